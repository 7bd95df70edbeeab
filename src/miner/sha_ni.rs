//! SHA-256 compression with the x86 SHA extensions, several blocks at
//! once. One compression is 64 dependent rounds, so a single stream leaves
//! the SHA unit waiting on each result; `N` independent streams (the same
//! midstate, different nonces) interleaved instruction by instruction keep
//! it busy. This is the only `unsafe` of the miner: the intrinsics need the
//! CPU features, which `ShaNi::detect` checks once at run time; without
//! them the miner uses `sha2::compress256`.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Proof that this CPU has the SHA extensions (and SSE4.1, SSSE3): the
/// only way to call the compressions below.
#[derive(Clone, Copy, Debug)]
pub struct ShaNi(());

impl ShaNi {
    pub fn detect() -> Option<ShaNi> {
        #[cfg(target_arch = "x86_64")]
        {
            let usable = std::arch::is_x86_feature_detected!("sha")
                && std::arch::is_x86_feature_detected!("sse4.1")
                && std::arch::is_x86_feature_detected!("ssse3");
            if usable {
                return Some(ShaNi(()));
            }
        }
        None
    }

    /// Compresses `blocks[i]` into `states[i]`, for each of the `N` lanes.
    #[cfg(target_arch = "x86_64")]
    pub fn compress<const N: usize>(self, states: &mut [[u32; 8]; N], blocks: [&[u8; 64]; N]) {
        // SAFETY: a `ShaNi` exists only if `detect` found the SHA, SSSE3
        // and SSE4.1 features this function is compiled for.
        unsafe { compress_lanes(states, blocks) }
    }

    /// The state of a tail block's compression after the rounds over its
    /// first `groups` 16-byte groups, which every nonce shares (they hold
    /// prefix bytes only): those rounds are done once per header instead
    /// of once per nonce, as Bitcoin miners do with the first rounds.
    #[cfg(target_arch = "x86_64")]
    pub fn start(self, midstate: &[u32; 8], block: &[u8; 64], groups: usize) -> Start {
        // SAFETY: as for `compress`.
        unsafe { start_rounds(midstate, block, groups.min(3)) }
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn start(self, _midstate: &[u32; 8], _block: &[u8; 64], _groups: usize) -> Start {
        unreachable!("a ShaNi is never made off x86_64")
    }

    /// The first word of the digest of each lane's final block, compressed
    /// from `start` (made from the same midstate and shared bytes): all a
    /// target check needs in almost every try.
    #[cfg(target_arch = "x86_64")]
    pub fn first_words<const N: usize>(self, start: &Start, blocks: [&[u8; 64]; N]) -> [u32; N] {
        // SAFETY: as for `compress`.
        unsafe { first_words_from(start, blocks) }
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn first_words<const N: usize>(self, _start: &Start, _blocks: [&[u8; 64]; N]) -> [u32; N] {
        unreachable!("a ShaNi is never made off x86_64")
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn compress<const N: usize>(self, _states: &mut [[u32; 8]; N], _blocks: [&[u8; 64]; N]) {
        unreachable!("a ShaNi is never made off x86_64")
    }

    /// Compressions per second, `N` blocks at a time, on this thread for
    /// about `time`.
    pub fn rate<const N: usize>(self, time: Duration) -> f64 {
        let mut blocks = [[0u8; 64]; N];
        let mut states = [[0x6a09_e667u32; 8]; N];
        let mut count = 0u64;
        let started = Instant::now();
        while started.elapsed() < time {
            for i in 0..4096u32 {
                for (lane, block) in blocks.iter_mut().enumerate() {
                    block[0..4].copy_from_slice(&(i + lane as u32).to_le_bytes());
                }
                let refs: [&[u8; 64]; N] = std::array::from_fn(|l| &blocks[l]);
                self.compress(&mut states, refs);
            }
            count += 4096 * N as u64;
        }
        std::hint::black_box(states);
        count as f64 / started.elapsed().as_secs_f64()
    }

    /// The number of streams (2 to 6) that hashes fastest on this CPU,
    /// measured once per process (about 0.3 s): four unless another count
    /// is clearly faster (by 5%). The counts differ by a few percent on the
    /// Intel parts measured, where a count picked on noise alone cost a
    /// tenth of the rate, while on AMD Zen 3 four and five were reported
    /// to differ by more.
    pub fn best_lanes(self) -> usize {
        static BEST: OnceLock<usize> = OnceLock::new();
        *BEST.get_or_init(|| {
            let slice = Duration::from_millis(20);
            let mut best = [0f64; 7];
            // Three times over, interleaved, keeping each count's best
            // try: a moment of other work on the core then hurts no count
            // alone.
            for _ in 0..3 {
                best[2] = best[2].max(self.rate::<2>(slice));
                best[3] = best[3].max(self.rate::<3>(slice));
                best[4] = best[4].max(self.rate::<4>(slice));
                best[5] = best[5].max(self.rate::<5>(slice));
                best[6] = best[6].max(self.rate::<6>(slice));
            }
            let fastest = (2..=6)
                .max_by(|a, b| best[*a].total_cmp(&best[*b]))
                .unwrap_or(4);
            if best[fastest] > best[4] * 1.05 {
                fastest
            } else {
                4
            }
        })
    }
}

/// A tail block's compression part done: the midstate and the state after
/// the shared rounds, both in the SHA unit's (A, B, E, F), (C, D, G, H)
/// layout.
#[derive(Clone, Copy, Debug)]
pub struct Start {
    midstate: [[u32; 4]; 2],
    after: [[u32; 4]; 2],
    /// Groups of four rounds already done (0 to 3).
    groups: usize,
}

/// The round constants, four to a vector (lane 0 = the first round).
#[cfg(target_arch = "x86_64")]
const K: [[u32; 4]; 16] = [
    [0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5],
    [0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5],
    [0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3],
    [0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174],
    [0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc],
    [0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da],
    [0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7],
    [0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967],
    [0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13],
    [0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85],
    [0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3],
    [0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070],
    [0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5],
    [0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3],
    [0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208],
    [0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2],
];

/// The state words (A..H) in the SHA unit's layout: (A, B, E, F) and
/// (C, D, G, H), highest lane first.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
fn to_unit(state: &[u32; 8]) -> (__m128i, __m128i) {
    // SAFETY: `state` is 8 u32 (32 bytes): two unaligned 16-byte loads
    // stay inside it.
    let (dcba, hgfe) = unsafe {
        let words = state.as_ptr() as *const __m128i;
        (_mm_loadu_si128(words), _mm_loadu_si128(words.add(1)))
    };
    let cdab = _mm_shuffle_epi32(dcba, 0xb1);
    let efgh = _mm_shuffle_epi32(hgfe, 0x1b);
    (
        _mm_alignr_epi8(cdab, efgh, 8),
        _mm_blend_epi16(efgh, cdab, 0xf0),
    )
}

/// The inverse of `to_unit`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
fn from_unit(abef: __m128i, cdgh: __m128i, state: &mut [u32; 8]) {
    let feba = _mm_shuffle_epi32(abef, 0x1b);
    let dchg = _mm_shuffle_epi32(cdgh, 0xb1);
    let dcba = _mm_blend_epi16(feba, dchg, 0xf0);
    let hgfe = _mm_alignr_epi8(dchg, feba, 8);
    // SAFETY: as for the loads of `to_unit`: 32 bytes of `state`.
    unsafe {
        let words = state.as_mut_ptr() as *mut __m128i;
        _mm_storeu_si128(words, dcba);
        _mm_storeu_si128(words.add(1), hgfe);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
fn load(words: &[u32; 4]) -> __m128i {
    // SAFETY: four u32: one unaligned 16-byte load.
    unsafe { _mm_loadu_si128(words.as_ptr() as *const __m128i) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
fn store(value: __m128i) -> [u32; 4] {
    let mut words = [0u32; 4];
    // SAFETY: four u32: one unaligned 16-byte store.
    unsafe { _mm_storeu_si128(words.as_mut_ptr() as *mut __m128i, value) };
    words
}

/// A block's sixteen message words, four to a vector, big-endian.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
fn message(block: &[u8; 64]) -> [__m128i; 4] {
    // Big-endian words: reverse the bytes of each 32-bit lane.
    let byte_swap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
    std::array::from_fn(|i| {
        // SAFETY: `block` is 64 bytes: four 16-byte loads.
        let bytes = unsafe { _mm_loadu_si128(block.as_ptr().add(16 * i) as *const __m128i) };
        _mm_shuffle_epi8(bytes, byte_swap)
    })
}

/// Rounds `4 * from` to `4 * to - 1` of `N` interleaved compressions;
/// `abef` and `cdgh` hold each lane's state after the rounds before.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
fn rounds<const N: usize>(
    abef: &mut [__m128i; N],
    cdgh: &mut [__m128i; N],
    w: &mut [[__m128i; 4]; N],
    from: usize,
    to: usize,
) {
    // All sixteen groups, skipping by a test rather than a loop bound: the
    // loop then unrolls fully and every message word stays in a register.
    for (group, k) in K.iter().enumerate() {
        if group < from || group >= to {
            continue;
        }
        let k = load(k);
        let slot = group % 4;
        for lane in 0..N {
            if group >= 4 {
                // The next four message words from the sixteen before.
                let w = &mut w[lane];
                let (w0, w1, w2, w3) = (
                    w[slot],
                    w[(slot + 1) % 4],
                    w[(slot + 2) % 4],
                    w[(slot + 3) % 4],
                );
                let partial =
                    _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8(w3, w2, 4));
                w[slot] = _mm_sha256msg2_epu32(partial, w3);
            }
            let with_k = _mm_add_epi32(w[lane][slot], k);
            cdgh[lane] = _mm_sha256rnds2_epu32(cdgh[lane], abef[lane], with_k);
            abef[lane] =
                _mm_sha256rnds2_epu32(abef[lane], cdgh[lane], _mm_shuffle_epi32(with_k, 0x0e));
        }
    }
}

/// # Safety
/// The CPU must have the SHA, SSSE3 and SSE4.1 features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
unsafe fn compress_lanes<const N: usize>(states: &mut [[u32; 8]; N], blocks: [&[u8; 64]; N]) {
    let mut abef = [_mm_setzero_si128(); N];
    let mut cdgh = [_mm_setzero_si128(); N];
    for lane in 0..N {
        (abef[lane], cdgh[lane]) = to_unit(&states[lane]);
    }
    let mut w: [[__m128i; 4]; N] = std::array::from_fn(|lane| message(blocks[lane]));
    let (abef_start, cdgh_start) = (abef, cdgh);
    rounds(&mut abef, &mut cdgh, &mut w, 0, 16);
    for lane in 0..N {
        let abef = _mm_add_epi32(abef[lane], abef_start[lane]);
        let cdgh = _mm_add_epi32(cdgh[lane], cdgh_start[lane]);
        from_unit(abef, cdgh, &mut states[lane]);
    }
}

/// # Safety
/// As for `compress_lanes`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn start_rounds(midstate: &[u32; 8], block: &[u8; 64], groups: usize) -> Start {
    let (abef, cdgh) = to_unit(midstate);
    let (mut after_abef, mut after_cdgh) = ([abef], [cdgh]);
    let mut w = [message(block)];
    rounds(&mut after_abef, &mut after_cdgh, &mut w, 0, groups);
    Start {
        midstate: [store(abef), store(cdgh)],
        after: [store(after_abef[0]), store(after_cdgh[0])],
        groups,
    }
}

/// # Safety
/// As for `compress_lanes`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
unsafe fn first_words_from<const N: usize>(start: &Start, blocks: [&[u8; 64]; N]) -> [u32; N] {
    let (abef_after, cdgh_after) = (load(&start.after[0]), load(&start.after[1]));
    let mut abef = [abef_after; N];
    let mut cdgh = [cdgh_after; N];
    let mut w: [[__m128i; 4]; N] = std::array::from_fn(|lane| message(blocks[lane]));
    rounds(&mut abef, &mut cdgh, &mut w, start.groups, 16);
    let abef_start = load(&start.midstate[0]);
    // A is the highest 32-bit lane of (A, B, E, F).
    std::array::from_fn(|lane| _mm_extract_epi32(_mm_add_epi32(abef[lane], abef_start), 3) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::compress256;
    use sha2::digest::generic_array::GenericArray;

    fn reference(state: &[u32; 8], block: &[u8; 64]) -> [u32; 8] {
        let mut state = *state;
        compress256(&mut state, &[*GenericArray::from_slice(block)]);
        state
    }

    fn check<const N: usize>(sha: ShaNi, seed: u8) {
        let mut states = [[0u32; 8]; N];
        let mut blocks = [[0u8; 64]; N];
        for lane in 0..N {
            for (i, word) in states[lane].iter_mut().enumerate() {
                *word = (i as u32 + 1).wrapping_mul(0x9e37_79b9) ^ (lane as u32) ^ u32::from(seed);
            }
            for (i, byte) in blocks[lane].iter_mut().enumerate() {
                *byte = (i as u8)
                    .wrapping_mul(31)
                    .wrapping_add(seed)
                    .wrapping_add(lane as u8 * 7);
            }
        }
        let expected: Vec<[u32; 8]> = (0..N).map(|l| reference(&states[l], &blocks[l])).collect();
        let refs: [&[u8; 64]; N] = std::array::from_fn(|l| &blocks[l]);
        sha.compress(&mut states, refs);
        assert_eq!(states.to_vec(), expected, "{N} lanes, seed {seed}");
    }

    #[test]
    fn every_lane_count_matches_the_plain_compression() {
        let Some(sha) = ShaNi::detect() else {
            eprintln!("skipped: this CPU has no SHA extensions");
            return;
        };
        // Under Miri (`RUSTFLAGS="-C target-feature=+sha,+sse4.1,+ssse3"
        // cargo +nightly miri test --lib sha_ni`), which checks the unsafe
        // loads and stores, a few seeds are enough.
        let seeds = if cfg!(miri) { 0..=7u8 } else { 0..=255u8 };
        for seed in seeds {
            check::<1>(sha, seed);
            check::<2>(sha, seed);
            check::<3>(sha, seed);
            check::<4>(sha, seed);
            check::<5>(sha, seed);
            check::<6>(sha, seed);
        }
    }

    fn check_first_words<const N: usize>(sha: ShaNi, seed: u8, groups: usize) {
        let midstate: [u32; 8] =
            std::array::from_fn(|i| (i as u32 + 7).wrapping_mul(0x85eb_ca6b) ^ u32::from(seed));
        // Lanes share their first `groups` 16-byte groups and differ after.
        let blocks: [[u8; 64]; N] = std::array::from_fn(|lane| {
            std::array::from_fn(|i| match i < 16 * groups {
                true => (i as u8).wrapping_mul(13).wrapping_add(seed),
                false => (i as u8) ^ seed.wrapping_add(lane as u8 * 29),
            })
        });
        let start = sha.start(&midstate, &blocks[0], groups);
        let words = sha.first_words::<N>(&start, std::array::from_fn(|l| &blocks[l]));
        let expected: [u32; N] = std::array::from_fn(|l| reference(&midstate, &blocks[l])[0]);
        assert_eq!(
            words, expected,
            "{N} lanes, seed {seed}, {groups} groups shared"
        );
    }

    #[test]
    fn first_words_from_shared_rounds_match_the_plain_compression() {
        let Some(sha) = ShaNi::detect() else {
            eprintln!("skipped: this CPU has no SHA extensions");
            return;
        };
        let seeds = if cfg!(miri) { 0..=3u8 } else { 0..=63u8 };
        for seed in seeds {
            for groups in 0..=3 {
                check_first_words::<2>(sha, seed, groups);
                check_first_words::<3>(sha, seed, groups);
                check_first_words::<4>(sha, seed, groups);
                check_first_words::<5>(sha, seed, groups);
                check_first_words::<6>(sha, seed, groups);
            }
        }
    }

    #[test]
    fn the_best_lane_count_is_measured_once_among_the_counts_searched() {
        let Some(sha) = ShaNi::detect() else {
            eprintln!("skipped: this CPU has no SHA extensions");
            return;
        };
        let best = sha.best_lanes();
        assert!((2..=crate::miner::MAX_LANES).contains(&best), "{best}");
        assert_eq!(sha.best_lanes(), best);
    }
}

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

/// # Safety
/// The CPU must have the SHA, SSSE3 and SSE4.1 features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn compress_lanes<const N: usize>(states: &mut [[u32; 8]; N], blocks: [&[u8; 64]; N]) {
    // Big-endian words: reverse the bytes of each 32-bit lane.
    let byte_swap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
    let mut abef = [_mm_setzero_si128(); N];
    let mut cdgh = [_mm_setzero_si128(); N];
    let mut w = [[_mm_setzero_si128(); 4]; N];
    for lane in 0..N {
        // SAFETY: `states[lane]` is 8 u32 (32 bytes): two unaligned
        // 16-byte loads stay inside it.
        let (dcba, hgfe) = unsafe {
            let words = states[lane].as_ptr() as *const __m128i;
            (_mm_loadu_si128(words), _mm_loadu_si128(words.add(1)))
        };
        // The SHA instructions keep the state as (A, B, E, F) and
        // (C, D, G, H), highest lane first.
        let cdab = _mm_shuffle_epi32(dcba, 0xb1);
        let efgh = _mm_shuffle_epi32(hgfe, 0x1b);
        abef[lane] = _mm_alignr_epi8(cdab, efgh, 8);
        cdgh[lane] = _mm_blend_epi16(efgh, cdab, 0xf0);
        for (i, word) in w[lane].iter_mut().enumerate() {
            // SAFETY: `blocks[lane]` is 64 bytes: four 16-byte loads.
            let bytes =
                unsafe { _mm_loadu_si128(blocks[lane].as_ptr().add(16 * i) as *const __m128i) };
            *word = _mm_shuffle_epi8(bytes, byte_swap);
        }
    }
    let (abef_start, cdgh_start) = (abef, cdgh);
    for (group, k) in K.iter().enumerate() {
        // SAFETY: `k` is four u32: one unaligned 16-byte load.
        let k = unsafe { _mm_loadu_si128(k.as_ptr() as *const __m128i) };
        for lane in 0..N {
            let slot = group % 4;
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
    for lane in 0..N {
        let abef = _mm_add_epi32(abef[lane], abef_start[lane]);
        let cdgh = _mm_add_epi32(cdgh[lane], cdgh_start[lane]);
        let feba = _mm_shuffle_epi32(abef, 0x1b);
        let dchg = _mm_shuffle_epi32(cdgh, 0xb1);
        let dcba = _mm_blend_epi16(feba, dchg, 0xf0);
        let hgfe = _mm_alignr_epi8(dchg, feba, 8);
        // SAFETY: as for the loads above: 32 bytes of `states[lane]`.
        unsafe {
            let words = states[lane].as_mut_ptr() as *mut __m128i;
            _mm_storeu_si128(words, dcba);
            _mm_storeu_si128(words.add(1), hgfe);
        }
    }
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

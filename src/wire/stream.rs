//! A JSON array of objects read as it arrives: `ArraySplitter` takes the
//! bytes of an original node's `/blockchain.json` piece by piece and hands
//! out each block object's bytes as soon as it is complete, so a chain of
//! any length is parsed with the memory of one block (and one piece).
//! Objects longer than a bound are refused, so an endless object cannot
//! grow it either. It splits; `BlockText::from_value` and `to_block` parse.

use super::WireError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// Before the `[`.
    Before,
    /// Between objects of the array.
    Between,
    /// Inside an object, at this nesting depth.
    Inside { depth: u32 },
    /// After the `]`.
    After,
}

pub struct ArraySplitter {
    buf: Vec<u8>,
    /// Where in `buf` the object being read starts.
    start: usize,
    place: Place,
    in_string: bool,
    escaped: bool,
    max_object: usize,
}

impl ArraySplitter {
    /// A splitter that refuses objects longer than `max_object` bytes.
    pub fn new(max_object: usize) -> ArraySplitter {
        ArraySplitter {
            buf: Vec::new(),
            start: 0,
            place: Place::Before,
            in_string: false,
            escaped: false,
            max_object,
        }
    }

    /// Takes the next piece; the objects it completes, in order.
    pub fn feed(&mut self, piece: &[u8]) -> Result<Vec<Vec<u8>>, WireError> {
        let from = self.buf.len();
        self.buf.extend_from_slice(piece);
        let mut done = Vec::new();
        for i in from..self.buf.len() {
            let byte = self.buf[i];
            match self.place {
                Place::Before | Place::After if byte.is_ascii_whitespace() => {}
                Place::Before if byte == b'[' => self.place = Place::Between,
                Place::Before => return Err(WireError::NotAnArray("something else")),
                Place::After => {
                    return Err(WireError::Json("text after the end of the array".into()));
                }
                Place::Between => match byte {
                    b' ' | b'\t' | b'\r' | b'\n' | b',' => {}
                    b'{' => {
                        self.start = i;
                        self.place = Place::Inside { depth: 1 };
                    }
                    b']' => self.place = Place::After,
                    _ => return Err(WireError::NotAnObject("something else")),
                },
                Place::Inside { depth } => {
                    if self.in_string {
                        match byte {
                            _ if self.escaped => self.escaped = false,
                            b'\\' => self.escaped = true,
                            b'"' => self.in_string = false,
                            _ => {}
                        }
                    } else {
                        match byte {
                            b'"' => self.in_string = true,
                            b'{' | b'[' => self.place = Place::Inside { depth: depth + 1 },
                            b'}' | b']' if depth == 1 => {
                                done.push(self.buf[self.start..=i].to_vec());
                                self.place = Place::Between;
                            }
                            b'}' | b']' => self.place = Place::Inside { depth: depth - 1 },
                            _ => {}
                        }
                    }
                    if matches!(self.place, Place::Inside { .. })
                        && i - self.start >= self.max_object
                    {
                        return Err(WireError::Json(format!(
                            "a block of more than {} bytes",
                            self.max_object
                        )));
                    }
                }
            }
        }
        // Keep only the object being read.
        let keep_from = match self.place {
            Place::Inside { .. } => self.start,
            _ => self.buf.len(),
        };
        self.buf.drain(..keep_from);
        self.start = 0;
        Ok(done)
    }

    /// Checks that the array was closed.
    pub fn finish(&self) -> Result<(), WireError> {
        match self.place {
            Place::After => Ok(()),
            _ => Err(WireError::Json("the array ends before its `]`".into())),
        }
    }

    /// Bytes held right now (the object being read).
    pub fn held(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_come_out_whatever_the_pieces() {
        let text = br#" [ {"a": "x}{\"", "b": [1, {"c": 2}]}, {"d": "]"} ] "#;
        for size in 1..text.len() {
            let mut splitter = ArraySplitter::new(1000);
            let mut objects = Vec::new();
            for piece in text.chunks(size) {
                objects.extend(splitter.feed(piece).unwrap());
            }
            splitter.finish().unwrap();
            assert_eq!(objects.len(), 2, "pieces of {size}");
            assert_eq!(objects[0], br#"{"a": "x}{\"", "b": [1, {"c": 2}]}"#);
            assert_eq!(objects[1], br#"{"d": "]"}"#);
            assert_eq!(splitter.held(), 0);
        }
    }

    #[test]
    fn bad_shapes_and_endless_objects_are_refused() {
        assert!(ArraySplitter::new(10).feed(b"{}").is_err());
        assert!(ArraySplitter::new(10).feed(b"[1]").is_err());
        let mut endless = ArraySplitter::new(100);
        assert!(endless.feed(b"[{\"data\": \"").is_ok());
        assert!(endless.feed(&[b'x'; 200]).is_err());
        let mut open = ArraySplitter::new(100);
        open.feed(b"[{}").unwrap();
        assert!(open.finish().is_err());
    }
}

//! The quick way through a page body: one pass that checks the JSON and, as it goes, cuts out each
//! record and finds its top-level `sourcedId`. serde_json's checked skip over every value, then a
//! second look into each record for its id, was the largest single cost of an export.
//!
//! It reads the body as simdjson does, in two stages. The first classifies 64 bytes at a time
//! into bit masks (quotes, backslashes, control characters, whitespace, punctuation) and from
//! them finds which bytes are inside strings and where each token starts, checking string
//! contents as it goes; the second walks the token starts and checks the grammar. So a string
//! costs nothing to skip: no byte-by-byte search for its end, which is what a record of thirty
//! short strings mostly cost.
//!
//! It only ever says yes to what serde_json accepts: anything it does not handle plainly (JSON
//! it finds invalid, nesting deeper than [`MAX_DEPTH`], a top-level member name with escapes, a
//! wanted member that is not an array of objects, no wanted member at all) makes it answer
//! `None`, and the caller lets serde_json read the body, which gives the same records or the
//! exact error as before. So it may be incomplete, never wrong. Bytes of 0x80 and above are
//! passed over inside strings (and refused elsewhere); whether there were any is reported, so the
//! caller checks the body is UTF-8 only when it is not plain ASCII.

use std::ops::Range;

use oneroster::Collection;

/// Nesting deeper than this is left to serde_json (which refuses more than 128 levels).
const MAX_DEPTH: usize = 100;

/// What the quick pass learned of a record's `sourcedId`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum IdAt {
    /// The string value of its first top-level `sourcedId`, between the quotes.
    Found(Range<usize>),
    /// No such member, or its first one is not a string.
    Absent,
    /// Not known: a member name with escapes came first (or serde_json split the records), so
    /// the caller looks for it in the record.
    Unsure,
}

/// Each record's span in the body and what is known of its id.
pub(super) type Cuts = Vec<(Range<usize>, IdAt)>;

/// A body split into records.
#[derive(Debug)]
pub(super) struct Split {
    /// Which key the records were under: 0 the documented one, then the alternates in order.
    pub key: usize,
    /// Each record's span and id.
    pub records: Cuts,
    /// No line break between tokens anywhere in the records: each can be written as it is, on
    /// one line.
    pub single_lines: bool,
    /// Every byte is below 0x80, so the body is UTF-8 without further check.
    pub ascii: bool,
}

/// Splits `body` into the records of `collection`, or `None` to leave it to serde_json.
pub(super) fn split(body: &[u8], collection: &Collection) -> Option<Split> {
    let mut r = Reader {
        t: Tokens::new(body),
    };
    let mut found: Option<(usize, Cuts)> = None;
    r.eat(b'{')?;
    if r.peek() == Some(b'}') {
        r.next();
    } else {
        loop {
            let name = r.string()?;
            if name.contains(&b'\\') {
                return None; // a name with escapes: serde_json unescapes it
            }
            r.eat(b':')?;
            let wanted = std::iter::once(collection.response_key)
                .chain(collection.alternate_keys.iter().copied())
                .position(|k| k.as_bytes() == name);
            // As the serde_json path: the documented key wins over an alternate met earlier,
            // otherwise the first wanted member stands.
            let better = match (&found, wanted) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some((k, _)), Some(w)) => *k != 0 && w == 0,
            };
            if better {
                found = Some((wanted?, r.records()?));
            } else {
                r.value()?;
            }
            match r.next()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
    }
    // Nothing after the object but whitespace, and every string closed and checked.
    if r.t.token().is_some() || !r.t.finished_cleanly() {
        return None;
    }
    let (key, records) = found?;
    Some(Split {
        key,
        records,
        // A line break inside a string would have been refused (a control character), so any
        // in the body is between tokens.
        single_lines: memchr::memchr2(b'\n', b'\r', body).is_none(),
        ascii: !r.t.non_ascii,
    })
}

/// The grammar, over the token starts.
struct Reader<'a> {
    t: Tokens<'a>,
}

impl<'a> Reader<'a> {
    fn peek(&mut self) -> Option<u8> {
        self.t.peek().map(|at| self.t.b[at])
    }

    fn next(&mut self) -> Option<u8> {
        self.t.token().map(|at| self.t.b[at])
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// A string's contents as written (escapes left in); they were checked by the first stage.
    fn string(&mut self) -> Option<&'a [u8]> {
        let at = self.t.token()?;
        let next = self.t.peek().unwrap_or(self.t.b.len());
        Some(&self.t.b[string_contents(self.t.b, at, next)?])
    }

    /// The array of records: every element an object, each cut out with what is known of its
    /// first top-level `sourcedId`. At `[`.
    fn records(&mut self) -> Option<Cuts> {
        let at = self.t.token()?;
        if self.t.b[at] != b'[' {
            return None;
        }
        let mut cuts = Vec::new();
        self.walk::<true>(at, &mut cuts)?;
        Some(cuts)
    }

    /// Any value.
    fn value(&mut self) -> Option<()> {
        let at = self.t.token()?;
        self.walk::<false>(at, &mut Vec::new())
    }

    /// Checks the grammar of the value whose first token is `first`, one token at a time with
    /// an explicit stack, not a call per value: this walk is most of what a page costs, so the
    /// tokens are handed out from locals and nothing is returned per token. With `RECORDS` the
    /// value is the array of records: each element must be an object, and is cut into `cuts`.
    fn walk<const RECORDS: bool>(&mut self, first: usize, cuts: &mut Cuts) -> Option<()> {
        debug_assert!(self.t.peeked.is_none());
        let t = &mut self.t;
        let b = t.b;
        let (mut mask, mut base) = (t.mask, t.block);
        // The next token start; the body's end inside a value is an error.
        macro_rules! next {
            () => {{
                while mask == 0 {
                    if t.next_block >= b.len() || t.failed {
                        return None;
                    }
                    t.mask = 0;
                    t.classify();
                    (mask, base) = (t.mask, t.block);
                }
                let at = base + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                at
            }};
        }
        // The kind of each open container, one bit a level (1: object), the innermost lowest.
        let mut stack: u128 = 0;
        let mut level = 0;
        // RECORDS: the record being read (level 2), where it starts and what is known of its id.
        let mut record_start = 0;
        let mut id: Option<IdAt> = None;
        let mut at = first;
        let mut state = State::Value;
        loop {
            match state {
                State::Value => match b[at] {
                    _ if RECORDS && level == 1 && b[at] != b'{' => return None,
                    open @ (b'{' | b'[') => {
                        level += 1;
                        if level > MAX_DEPTH {
                            return None;
                        }
                        let object = open == b'{';
                        stack = stack << 1 | u128::from(object);
                        if RECORDS && level == 2 {
                            record_start = at;
                            id = None;
                        }
                        at = next!();
                        // `{}` and `[]` (a closer is its opener plus two) are closed as after a value.
                        state = if b[at] == open + 2 {
                            State::After
                        } else if object {
                            State::Member
                        } else {
                            State::Value
                        };
                    }
                    b'"' => {
                        if level == 0 {
                            break;
                        }
                        at = next!();
                        state = State::After;
                    }
                    b',' | b':' | b'}' | b']' => return None,
                    _ => {
                        let next = next!();
                        scalar(&b[at..end_before(b, at, next)])?;
                        if level == 0 {
                            t.peeked = Some(next);
                            break;
                        }
                        at = next;
                        state = State::After;
                    }
                },
                State::After => match b[at] {
                    b',' => {
                        at = next!();
                        state = if stack & 1 == 1 {
                            State::Member
                        } else {
                            State::Value
                        };
                    }
                    close @ (b'}' | b']') => {
                        if (close == b'}') != (stack & 1 == 1) {
                            return None;
                        }
                        level -= 1;
                        stack >>= 1;
                        if RECORDS && level == 1 {
                            cuts.push((record_start..at + 1, id.take().unwrap_or(IdAt::Absent)));
                        }
                        if level == 0 {
                            break;
                        }
                        at = next!();
                    }
                    _ => return None,
                },
                State::Member => {
                    let name_at = at;
                    if b[name_at] != b'"' {
                        return None;
                    }
                    let colon = next!();
                    if b[colon] != b':' {
                        return None;
                    }
                    at = next!();
                    state = State::Value;
                    // A record's member names are looked at until its id is settled.
                    let looking = RECORDS && level == 2 && id.is_none();
                    // Most members are a name and a string: read the next one at once.
                    if b[at] == b'"' && !looking {
                        at = next!();
                        if b[at] == b',' {
                            at = next!();
                            state = State::Member;
                        } else {
                            state = State::After;
                        }
                        continue;
                    }
                    if looking {
                        let name = &b[string_contents(b, name_at, colon)?];
                        if t.backslashes && name.contains(&b'\\') {
                            id = Some(IdAt::Unsure);
                        } else if name == b"sourcedId" {
                            if b[at] != b'"' {
                                id = Some(IdAt::Absent);
                            } else {
                                let next = next!();
                                id = Some(IdAt::Found(string_contents(b, at, next)?));
                                (at, state) = (next, State::After);
                            }
                        }
                    }
                }
            }
        }
        t.mask = mask;
        t.block = base;
        Some(())
    }
}

/// Where [`Reader::walk`] is: at a value's first token, at the token after a value (`,` or a
/// closer), or at a member's name.
#[derive(Clone, Copy)]
enum State {
    Value,
    After,
    Member,
}

/// Where the string or scalar starting at `at` ends, given `next`, the token start after it:
/// before the whitespace in front of `next`.
fn end_before(b: &[u8], at: usize, next: usize) -> usize {
    let mut end = next;
    while end > at + 1 && matches!(b[end - 1], b' ' | b'\t' | b'\n' | b'\r') {
        end -= 1;
    }
    end
}

/// The contents (between the quotes) of the string token at `at`, given the token start after
/// it: a string's closing quote is the last byte before that start and its whitespace, since a
/// token start is all that can follow one. An unclosed string is refused at the end of the
/// pass; it must not be cut here.
fn string_contents(b: &[u8], at: usize, next: usize) -> Option<Range<usize>> {
    let end = end_before(b, at, next);
    (b[at] == b'"' && end >= at + 2 && b[end - 1] == b'"').then_some(at + 1..end - 1)
}

/// A number or literal, alone.
fn scalar(s: &[u8]) -> Option<()> {
    match s {
        b"true" | b"false" | b"null" => Some(()),
        _ => number(s),
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, the whole of `s`.
fn number(s: &[u8]) -> Option<()> {
    let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = usize::from(s.first() == Some(&b'-'));
    match s.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i += digits(&s[i..]),
        _ => return None,
    }
    if s.get(i) == Some(&b'.') {
        let n = digits(&s[i + 1..]);
        if n == 0 {
            return None;
        }
        i += 1 + n;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(&s[i..]);
        if n == 0 {
            return None;
        }
        i += n;
    }
    (i == s.len()).then_some(())
}

/// The first stage: the body, 64 bytes at a time, as the positions where tokens start (`{`, `}`,
/// `[`, `]`, `:`, `,`, a string's opening quote, the first byte of a number or literal), handed
/// out in order. A block is classified only when its tokens are wanted.
struct Tokens<'a> {
    b: &'a [u8],
    /// Where the block of `mask` starts, and where the next one does.
    block: usize,
    next_block: usize,
    /// The token starts of the current block not handed out yet.
    mask: u64,
    /// A token start read ahead by `peek`.
    peeked: Option<usize>,
    /// What runs over from one block to the next: the first byte is escaped; the block ended
    /// inside a string; it ended in a number or literal.
    escape_carry: bool,
    in_string: bool,
    scalar_carry: bool,
    /// Something in a string is not allowed (a control character, an unknown escape).
    failed: bool,
    /// A backslash anywhere so far.
    backslashes: bool,
    /// A byte of 0x80 or above anywhere so far.
    non_ascii: bool,
}

impl<'a> Tokens<'a> {
    fn new(b: &'a [u8]) -> Self {
        Tokens {
            b,
            block: 0,
            next_block: 0,
            mask: 0,
            peeked: None,
            escape_carry: false,
            in_string: false,
            scalar_carry: false,
            failed: false,
            backslashes: false,
            non_ascii: false,
        }
    }

    #[inline]
    fn peek(&mut self) -> Option<usize> {
        if self.peeked.is_none() {
            self.peeked = self.advance();
        }
        self.peeked
    }

    #[inline]
    fn token(&mut self) -> Option<usize> {
        match self.peeked.take() {
            Some(at) => Some(at),
            None => self.advance(),
        }
    }

    #[inline]
    fn advance(&mut self) -> Option<usize> {
        while self.mask == 0 {
            if self.next_block >= self.b.len() || self.failed {
                return None;
            }
            self.classify();
        }
        let at = self.block + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }

    /// Whether the whole body was classified with every string closed and nothing refused.
    fn finished_cleanly(&self) -> bool {
        !self.failed && !self.in_string && self.next_block >= self.b.len()
    }

    /// Classifies the next block and sets `mask` to its token starts. Kept out of line so that
    /// handing out a token stays a few instructions.
    #[inline(never)]
    fn classify(&mut self) {
        let start = self.next_block;
        let rest = &self.b[start..];
        let m = if rest.len() >= 64 {
            Masks::of(rest[..64].try_into().expect("64 bytes"))
        } else {
            // The tail, padded with spaces (whitespace changes nothing).
            let mut padded = [b' '; 64];
            padded[..rest.len()].copy_from_slice(rest);
            Masks::of(&padded)
        };
        self.block = start;
        self.next_block = start + 64;
        self.non_ascii |= m.high != 0;

        // Which bytes a backslash escapes. Backslashes are rare in rosters: walked one by one.
        let mut escaped = u64::from(self.escape_carry);
        self.escape_carry = false;
        if m.backslash != 0 {
            self.backslashes = true;
            let mut bits = m.backslash;
            while bits != 0 {
                let i = bits.trailing_zeros();
                bits &= bits - 1;
                if escaped & (1 << i) != 0 {
                    continue;
                }
                if i == 63 {
                    self.escape_carry = true;
                } else {
                    escaped |= 1 << (i + 1);
                }
            }
        }
        let quote = m.quote & !escaped;
        // Inside a string: from an opening quote up to (not with) its closing one.
        let inside = prefix_xor(quote) ^ if self.in_string { !0 } else { 0 };
        self.in_string = inside >> 63 == 1;
        let body_of_strings = inside & !quote;
        // A string's bytes after its opening quote, the closing quote included.
        let tail = inside ^ quote;
        if m.control & body_of_strings != 0 {
            self.failed = true; // a control character in a string
            return;
        }
        // Each escape must be one JSON knows: `\u` and four hex digits, or one of `"\\/bfnrt`.
        let mut escapes = m.backslash & !escaped & body_of_strings;
        while escapes != 0 {
            let at = start + escapes.trailing_zeros() as usize;
            escapes &= escapes - 1;
            let ok = match self.b.get(at + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => true,
                Some(b'u') => self
                    .b
                    .get(at + 2..at + 6)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)),
                _ => false,
            };
            if !ok {
                self.failed = true;
                return;
            }
        }
        // A number or literal starts where a byte that is neither punctuation nor whitespace
        // follows one that was not part of one.
        let scalar = !(m.punctuation | m.whitespace);
        let plain = scalar & !quote;
        let follows_plain = plain << 1 | u64::from(self.scalar_carry);
        self.scalar_carry = plain >> 63 == 1;
        self.mask = (m.punctuation | (scalar & !follows_plain)) & !tail;
        if rest.len() < 64 {
            self.mask &= (1u64 << rest.len()) - 1;
        }
    }
}

/// Each bit `i` set when an odd number of the bits up to and including `i` are.
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// The bytes of one block that matter, as bits (bit `i` is byte `i`).
#[derive(Debug, Default, PartialEq)]
struct Masks {
    quote: u64,
    backslash: u64,
    /// Below 0x20: not allowed in strings (whitespace included).
    control: u64,
    whitespace: u64,
    /// `{` `}` `[` `]` `:` `,`
    punctuation: u64,
    /// 0x80 and above: beyond ASCII.
    high: u64,
}

impl Masks {
    #[inline]
    fn of(block: &[u8; 64]) -> Masks {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2 (checked just now; the answer is cached).
            unsafe { Masks::of_avx2(block) }
        } else {
            Masks::of_sse2(block)
        }
        #[cfg(not(target_arch = "x86_64"))]
        Masks::of_bytes(block)
    }

    /// Thirty-two bytes at a time. Whitespace and punctuation are each found with one table
    /// lookup by the low four bits (`vpshufb`) and a comparison, as simdjson does: the four
    /// whitespace bytes, and the six punctuation bytes with bit 5 set (`[` `]` become `{` `}`),
    /// differ in their low four bits.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn of_avx2(block: &[u8; 64]) -> Masks {
        use std::arch::x86_64::{
            __m256i, _mm256_andnot_si256, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_min_epu8,
            _mm256_movemask_epi8, _mm256_or_si256, _mm256_set1_epi8, _mm256_setr_epi8,
            _mm256_shuffle_epi8,
        };
        // By low four bits, the byte that is whitespace there; 0xff (never matched: a byte of
        // 0x80 and above looks up 0) where none is. Both lanes alike.
        #[rustfmt::skip]
        let spaces = _mm256_setr_epi8(
            0x20, -1, -1, -1, -1, -1, -1, -1, -1, 0x09, 0x0a, -1, -1, 0x0d, -1, -1,
            0x20, -1, -1, -1, -1, -1, -1, -1, -1, 0x09, 0x0a, -1, -1, 0x0d, -1, -1,
        );
        // The same for punctuation with bit 5 set: `:` `{` `,` `}` (0x3a 0x7b 0x2c 0x7d).
        #[rustfmt::skip]
        let marks = _mm256_setr_epi8(
            -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0x3a, 0x7b, 0x2c, 0x7d, -1, -1,
            -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0x3a, 0x7b, 0x2c, 0x7d, -1, -1,
        );
        let mut m = Masks::default();
        for (k, chunk) in block.chunks_exact(32).enumerate() {
            // SAFETY: `chunk` is 32 readable bytes, loaded unaligned.
            let v = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast::<__m256i>()) };
            let eq = |c: u8| _mm256_cmpeq_epi8(v, _mm256_set1_epi8(c as i8));
            let bits = |x: __m256i| u64::from(_mm256_movemask_epi8(x) as u32) << (32 * k);
            // v <= 0x1f (unsigned) exactly when min(v, 0x1f) == v.
            let control = _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x1f)), v);
            let folded = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
            // Bit 5 also makes 0x0c and 0x1a look like `,` and `:`: control characters are not.
            let marked = _mm256_cmpeq_epi8(_mm256_shuffle_epi8(marks, folded), folded);
            m.high |= bits(v);
            m.quote |= bits(eq(b'"'));
            m.backslash |= bits(eq(b'\\'));
            m.control |= bits(control);
            m.whitespace |= bits(_mm256_cmpeq_epi8(_mm256_shuffle_epi8(spaces, v), v));
            m.punctuation |= bits(_mm256_andnot_si256(control, marked));
        }
        m
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    fn of_sse2(block: &[u8; 64]) -> Masks {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        let mut m = Masks::default();
        // Sixteen bytes at a time with SSE2, which every x86_64 processor has.
        for (k, chunk) in block.chunks_exact(16).enumerate() {
            // SAFETY: `chunk` is 16 readable bytes, loaded unaligned; the other intrinsics only
            // need SSE2, part of the x86_64 baseline.
            unsafe {
                let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
                let bits = |x: __m128i| u64::from(_mm_movemask_epi8(x) as u16) << (16 * k);
                let line_break = _mm_or_si128(eq(b'\n'), eq(b'\r'));
                // `[` and `]` differ from `{` and `}` only in bit 5.
                let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
                let brackets = _mm_or_si128(
                    _mm_cmpeq_epi8(folded, _mm_set1_epi8(b'{' as i8)),
                    _mm_cmpeq_epi8(folded, _mm_set1_epi8(b'}' as i8)),
                );
                m.high |= bits(v);
                m.quote |= bits(eq(b'"'));
                m.backslash |= bits(eq(b'\\'));
                // v <= 0x1f (unsigned) exactly when min(v, 0x1f) == v.
                m.control |= bits(_mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v));
                m.whitespace |= bits(_mm_or_si128(_mm_or_si128(eq(b' '), eq(b'\t')), line_break));
                m.punctuation |= bits(_mm_or_si128(brackets, _mm_or_si128(eq(b':'), eq(b','))));
            }
        }
        m
    }

    /// One byte at a time: for other processors, and the reference the tests hold the others to.
    #[cfg(any(test, not(target_arch = "x86_64")))]
    fn of_bytes(block: &[u8; 64]) -> Masks {
        let mut m = Masks::default();
        for (i, &c) in block.iter().enumerate() {
            let bit = 1u64 << i;
            match c {
                b'"' => m.quote |= bit,
                b'\\' => m.backslash |= bit,
                b'{' | b'}' | b'[' | b']' | b':' | b',' => m.punctuation |= bit,
                b' ' | b'\t' => m.whitespace |= bit,
                b'\n' | b'\r' => m.whitespace |= bit,
                _ => {}
            }
            if c < 0x20 {
                m.control |= bit;
            }
            if c >= 0x80 {
                m.high |= bit;
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::super::{parse_with_serde, sourced_id};
    use super::*;
    use oneroster::CollectionId;

    fn users() -> &'static Collection {
        CollectionId::Users.info()
    }

    /// Whenever the quick pass answers, serde_json reads the body the same way: the same member,
    /// the same record spans, and each record's id as the byte scan finds it. Returns whether the
    /// quick pass answered.
    fn agrees(body: &str) -> bool {
        let Some(quick) = split(body.as_bytes(), users()) else {
            return false;
        };
        let (key, items) = parse_with_serde(users(), body).unwrap_or_else(|e| {
            panic!("the quick pass took a body serde_json refuses ({e}): {body}")
        });
        assert_eq!(quick.key, key, "{body}");
        let spans: Vec<_> = items.into_iter().map(|(r, _)| r).collect();
        let quick_spans: Vec<_> = quick.records.iter().map(|(r, _)| r.clone()).collect();
        assert_eq!(quick_spans, spans, "{body}");
        for (span, id) in &quick.records {
            let record = &body[span.clone()];
            let want = sourced_id(record).ok().flatten();
            match id {
                IdAt::Found(at) => {
                    let got = Some(body[at.clone()].trim()).filter(|t| !t.is_empty());
                    assert_eq!(got, want, "{record}");
                }
                IdAt::Absent => assert_eq!(want, None, "{record}"),
                IdAt::Unsure => {}
            }
        }
        let breaks = body.contains(['\n', '\r']);
        assert_eq!(quick.single_lines, !breaks, "{body}");
        assert_eq!(quick.ascii, body.is_ascii(), "{body}");
        true
    }

    const RICH: &str = r#"{"statusInfoSet":[{"imsx_codeMajor":"success","n":-0.5e-3}],
 "users" : [ {"sourcedId":" u1 ","status":"active","dateLastModified":"2026-01-02T03:04:05.000Z",
  "enabledUser":true,"orgs":[{"href":"h","sourcedId":"o1","type":"org"}],"grades":[],"x":null,
  "given\u004eame":"Zo\u00eb \"Z\" \\ /\/\b\f\n\r\t","n":[0,1.25,-7,3E+2,4e-0,{}],"é":"ü"},
 {"status":"active","sourcedId":"u2"}, {}, {"sourcedId":7},{"na\"me":1,"sourcedId":"u3"}]}"#;

    #[test]
    fn reads_what_serde_json_reads() {
        for body in [
            RICH,
            r#"{"users":[]}"#,
            r#"{}"#,
            r#"{"students":[{"sourcedId":"s"}],"users":[{"sourcedId":"u"}]}"#,
            r#"{"users":[{"sourcedId":"u"}],"students":[{"sourcedId":"s"}]}"#,
            r#"{"students":[{"sourcedId":"s"}],"teachers":[{"sourcedId":"t"}]}"#,
            r#"{"users":[{"sourcedId":"a"}],"users":{"not":"an array"}}"#,
            "\t{ \"users\" :[{\"sourcedId\":\"a\"}] }\n",
        ] {
            // `{}` has no records member: the quick pass leaves its error to serde_json.
            assert_eq!(agrees(body), body != "{}", "{body}");
        }
    }

    #[test]
    fn leaves_what_it_does_not_handle_to_serde_json() {
        let deep = format!(
            r#"{{"users":[{{"sourcedId":"a","x":{}1{}}}]}}"#,
            "[".repeat(150),
            "]".repeat(150)
        );
        for body in [
            r#"{"us\u0065rs":[{"sourcedId":"a"}]}"#,
            r#"{"users":{"sourcedId":"a"}}"#,
            r#"{"users":["a"]}"#,
            r#"{"users":[{"sourcedId":"a"},]}"#,
            r#"{"users":[{"sourcedId":"a","x":[1}]}"#,
            r#"{"users":[{"sourcedId":"a","x":{"y":1]}]}"#,
            r#"{"users":[{"sourcedId":"a"}}}"#,
            r#"{"users":[{"sourcedId":"a"},"b"]}"#,
            r#"{"users":[{"sourcedId":"a","x":{1:2}}]}"#,
            r#"{"users":[{"sourcedId":"a",}]}"#,
            r#"{"users":[{"sourcedId":"a","n":01}]}"#,
            r#"{"users":[{"sourcedId":"a","n":1.}]}"#,
            r#"{"users":[{"sourcedId":"a","n":-}]}"#,
            r#"{"users":[{"sourcedId":"a","n":.5}]}"#,
            r#"{"users":[{"sourcedId":"a","n":1e}]}"#,
            r#"{"users":[{"sourcedId":"a","b":tru}]}"#,
            r#"{"users":[{"sourcedId":"a\x"}]}"#,
            r#"{"users":[{"sourcedId":"a\u12g4"}]}"#,
            "{\"users\":[{\"sourcedId\":\"a\tb\"}]}",
            r#"{"users":[{"sourcedId":"a"}]} x"#,
            r#"{"users":[{"sourcedId":"a"}]"#,
            r#"{"users":[{"sourcedId":"a" "b":1}]}"#,
            r#"[{"sourcedId":"a"}]"#,
            &deep,
        ] {
            assert!(split(body.as_bytes(), users()).is_none(), "{body}");
        }
    }

    #[test]
    fn tokens_are_found_across_block_boundaries() {
        // Strings, escapes, backslash runs and numbers at every place against the 64-byte blocks.
        for pad in 0..140 {
            let x = "x".repeat(pad);
            let good = format!(
                r#"{{"users":[{{"sourcedId":"a{x}","p":"{x}","e":"\\\"\u00e9\n\\","n":[1,-2.5e3,true,null,{{}}]}},{{"{x}":0,"sourcedId":"b"}}]}}"#
            );
            assert!(agrees(&good), "{good}");
            for bad in [
                format!(r#"{{"users":[{{"sourcedId":"a","p":"{x}\q"}}]}}"#),
                format!(r#"{{"users":[{{"sourcedId":"a","p":"{x}\u12x4"}}]}}"#),
                format!("{{\"users\":[{{\"sourcedId\":\"a\",\"p\":\"{x}\u{1}\"}}]}}"),
                format!(r#"{{"users":[{{"sourcedId":"a","p":"{x}\"}}]}}"#),
                format!(r#"{{"users":[{{"sourcedId":"a","p":{x}01}}]}}"#),
                format!(r#"{{"users":[{{"sourcedId":"a","p":"{x}"}}]}}{x}x"#),
            ] {
                assert!(split(bad.as_bytes(), users()).is_none(), "{bad}");
            }
        }
    }

    #[test]
    fn the_classifiers_agree_byte_for_byte() {
        let alphabet: &[u8] = b"{}[]:,\"\\ \t\n\r\x00\x01\x1f\x7f\x80\xc3\xff;[Z]az09{|}";
        let mut rng = StdRng::seed_from_u64(5);
        for i in 0..10_000 {
            // Half from the bytes JSON cares about, half from all 256 (every byte value comes up
            // hundreds of times: 0x0c and 0x1a look like punctuation to the table lookup).
            let block: [u8; 64] = std::array::from_fn(|_| {
                if i % 2 == 0 {
                    alphabet[rng.random_range(0..alphabet.len())]
                } else {
                    rng.random()
                }
            });
            let want = Masks::of_bytes(&block);
            assert_eq!(Masks::of(&block), want, "{block:?}");
            #[cfg(target_arch = "x86_64")]
            {
                assert_eq!(Masks::of_sse2(&block), want, "{block:?}");
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the processor has AVX2.
                    assert_eq!(unsafe { Masks::of_avx2(&block) }, want, "{block:?}");
                }
            }
        }
    }

    /// Random edits of a rich body: the quick pass never takes one serde_json refuses, and reads
    /// the ones it takes the same way.
    #[test]
    fn edited_bodies_never_get_past_the_quick_pass_wrongly() {
        let alphabet: &[u8] = b"{}[]\",:\\/0123456789-+.eEtrufalsn \t\nxu\x01";
        let mut rng = StdRng::seed_from_u64(11);
        let (mut taken, mut tried) = (0, 0);
        for _ in 0..30_000 {
            let mut body = RICH.as_bytes().to_vec();
            for _ in 0..rng.random_range(1..=3) {
                let at = rng.random_range(0..body.len());
                let c = alphabet[rng.random_range(0..alphabet.len())];
                match rng.random_range(0..3) {
                    0 => body[at] = c,
                    1 => body.insert(at, c),
                    _ => {
                        body.remove(at);
                    }
                }
            }
            let Ok(body) = String::from_utf8(body) else {
                continue;
            };
            tried += 1;
            if agrees(&body) {
                taken += 1;
            }
        }
        // Many edits leave valid JSON (inside strings, mostly): the quick pass must take those.
        assert!(taken > tried / 10, "{taken} of {tried}");
    }
}

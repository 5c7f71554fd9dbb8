//! BLAKE3 of many short inputs at once, one input per SIMD lane.
//!
//! Every row costs two hashes (its key, its key and values), each of an input of a few hundred
//! bytes at most: a single BLAKE3 chunk, so a chain of one to sixteen block compressions.
//! `blake3::hash` runs that chain in one lane of the vector unit; here sixteen (AVX-512) or
//! eight (AVX2) inputs are compressed side by side, word `i` of every lane's state in one
//! vector register. The output is exactly `blake3::hash` of each input (the tests compare them
//! on every length up to two chunks); inputs longer than one chunk, and machines without those
//! instructions, go through `blake3::hash` itself.
//!
//! The compression is written over `[u32; L]` arrays and left to the compiler's vectoriser
//! inside functions compiled for the instruction set (`#[target_feature]`), chosen at run time.
//! Calling such a function is `unsafe` (the CPU must have the instructions): the only `unsafe`
//! in the workspace, each call behind its feature check.
#![allow(unsafe_code)]

/// The largest input hashed in lanes: one BLAKE3 chunk.
const CHUNK_LEN: usize = 1024;
const BLOCK_LEN: usize = 64;

const IV: [u32; 8] = [
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
];
const CHUNK_START: u32 = 1;
const CHUNK_END: u32 = 2;
const ROOT: u32 = 8;

/// The message word each round reads in each position: BLAKE3's permutation applied
/// round after round, spelled out so that no words move at run time.
const SCHEDULE: [[usize; 16]; 7] = schedule();

const fn schedule() -> [[usize; 16]; 7] {
    const PERMUTATION: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
    let mut s = [[0; 16]; 7];
    let mut i = 0;
    while i < 16 {
        s[0][i] = i;
        i += 1;
    }
    let mut r = 1;
    while r < 7 {
        let mut i = 0;
        while i < 16 {
            s[r][i] = s[r - 1][PERMUTATION[i]];
            i += 1;
        }
        r += 1;
    }
    s
}

/// `out[i] = blake3::hash(inputs[i])` for every `i`.
///
/// # Panics
/// If `out` is shorter than `inputs`.
pub fn hash_many(inputs: &[&[u8]], out: &mut [[u8; 32]]) {
    assert!(out.len() >= inputs.len(), "one output per input");
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            for (i, o) in inputs.chunks(16).zip(out.chunks_mut(16)) {
                // SAFETY: the CPU has AVX-512F, checked just above.
                unsafe { x86::hash16(i, o) };
            }
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            for (i, o) in inputs.chunks(8).zip(out.chunks_mut(8)) {
                // SAFETY: the CPU has AVX2, checked just above.
                unsafe { x86::hash8(i, o) };
            }
            return;
        }
    }
    for (input, o) in inputs.iter().zip(out.iter_mut()) {
        *o = *blake3::hash(input).as_bytes();
    }
}

/// One vector of `L` 32-bit lanes and the operations BLAKE3 needs.
trait Vector<const L: usize>: Copy {
    /// The sixteen message words of `L` blocks, word `w` of block `l` in lane `l` of vector `w`.
    fn load_blocks(blocks: &[&[u8; BLOCK_LEN]; L]) -> [Self; 16];
    fn load(words: &[u32; L]) -> Self;
    fn store(self, words: &mut [u32; L]);
    fn splat(x: u32) -> Self;
    fn add(self, o: Self) -> Self;
    fn xor(self, o: Self) -> Self;
    fn rot16(self) -> Self;
    fn rot12(self) -> Self;
    fn rot8(self) -> Self;
    fn rot7(self) -> Self;
}

/// Up to `L` inputs, one per lane; those longer than a chunk are hashed on their own.
#[inline(always)]
fn hash_lanes<V: Vector<L>, const L: usize>(inputs: &[&[u8]], out: &mut [[u8; 32]]) {
    debug_assert!(inputs.len() <= L);
    // Blocks of each lane's input (an empty input is one empty block); 0 for an unused lane.
    let mut blocks = [0usize; L];
    let mut most = 0;
    for (l, input) in inputs.iter().enumerate() {
        if input.len() > CHUNK_LEN {
            out[l] = *blake3::hash(input).as_bytes();
            continue;
        }
        blocks[l] = input.len().div_ceil(BLOCK_LEN).max(1);
        most = most.max(blocks[l]);
    }
    let mut cv = IV.map(V::splat);
    let zeros = [0u8; BLOCK_LEN];
    let mut padded = [[0u8; BLOCK_LEN]; L];
    let mut block_len = [0u32; L];
    let mut flags = [0u32; L];
    let mut words = [[0u32; L]; 8];
    for b in 0..most {
        let mut ending = false;
        let mut full = [true; L];
        for l in 0..inputs.len() {
            if b >= blocks[l] {
                continue;
            }
            let input = inputs[l];
            let start = b * BLOCK_LEN;
            let bytes = &input[start..input.len().min(start + BLOCK_LEN)];
            if bytes.len() < BLOCK_LEN {
                full[l] = false;
                padded[l] = [0; BLOCK_LEN];
                padded[l][..bytes.len()].copy_from_slice(bytes);
            }
            let last = b + 1 == blocks[l];
            ending |= last;
            block_len[l] = bytes.len() as u32;
            flags[l] =
                if b == 0 { CHUNK_START } else { 0 } | if last { CHUNK_END | ROOT } else { 0 };
        }
        let refs: [&[u8; BLOCK_LEN]; L] = std::array::from_fn(|l| {
            if b >= blocks[l] {
                &zeros
            } else if full[l] {
                inputs[l][b * BLOCK_LEN..][..BLOCK_LEN]
                    .try_into()
                    .expect("a whole block")
            } else {
                &padded[l]
            }
        });
        let msg = V::load_blocks(&refs);
        compress(&mut cv, &msg, V::load(&block_len), V::load(&flags));
        if ending {
            for (v, w) in cv.iter().zip(words.iter_mut()) {
                v.store(w);
            }
            for l in 0..inputs.len() {
                if b + 1 == blocks[l] {
                    for (w, v) in words.iter().enumerate() {
                        out[l][4 * w..4 * w + 4].copy_from_slice(&v[l].to_le_bytes());
                    }
                }
            }
        }
    }
}

/// One block compression in every lane; the chaining value is replaced by the output's first
/// half (a lane past its input's end computes garbage no one reads).
#[inline(always)]
fn compress<V: Vector<L>, const L: usize>(cv: &mut [V; 8], m: &[V; 16], block_len: V, flags: V) {
    let zero = V::splat(0);
    // Words 12 and 13 are the chunk counter: 0, every input being the first chunk.
    let mut s = [
        cv[0],
        cv[1],
        cv[2],
        cv[3],
        cv[4],
        cv[5],
        cv[6],
        cv[7],
        V::splat(IV[0]),
        V::splat(IV[1]),
        V::splat(IV[2]),
        V::splat(IV[3]),
        zero,
        zero,
        block_len,
        flags,
    ];
    for r in &SCHEDULE {
        g(&mut s, [0, 4, 8, 12], m[r[0]], m[r[1]]);
        g(&mut s, [1, 5, 9, 13], m[r[2]], m[r[3]]);
        g(&mut s, [2, 6, 10, 14], m[r[4]], m[r[5]]);
        g(&mut s, [3, 7, 11, 15], m[r[6]], m[r[7]]);
        g(&mut s, [0, 5, 10, 15], m[r[8]], m[r[9]]);
        g(&mut s, [1, 6, 11, 12], m[r[10]], m[r[11]]);
        g(&mut s, [2, 7, 8, 13], m[r[12]], m[r[13]]);
        g(&mut s, [3, 4, 9, 14], m[r[14]], m[r[15]]);
    }
    for w in 0..8 {
        cv[w] = s[w].xor(s[w + 8]);
    }
}

/// BLAKE3's quarter-round on state words `a, b, c, d`, every lane at once.
#[inline(always)]
fn g<V: Vector<L>, const L: usize>(s: &mut [V; 16], [a, b, c, d]: [usize; 4], x: V, y: V) {
    s[a] = s[a].add(s[b]).add(x);
    s[d] = s[d].xor(s[a]).rot16();
    s[c] = s[c].add(s[d]);
    s[b] = s[b].xor(s[c]).rot12();
    s[a] = s[a].add(s[b]).add(y);
    s[d] = s[d].xor(s[a]).rot8();
    s[c] = s[c].add(s[d]);
    s[b] = s[b].xor(s[c]).rot7();
}

/// The vectors of x86-64: 16 lanes in an AVX-512 register, 8 in an AVX2 one. Every method is
/// inlined into `hash16` / `hash8`, which are compiled for the instruction set they use.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{hash_lanes, Vector, BLOCK_LEN};

    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn hash16(inputs: &[&[u8]], out: &mut [[u8; 32]]) {
        hash_lanes::<__m512i, 16>(inputs, out)
    }

    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn hash8(inputs: &[&[u8]], out: &mut [[u8; 32]]) {
        hash_lanes::<__m256i, 8>(inputs, out)
    }

    // SAFETY (every block below): these methods are only reached from `hash16` (AVX-512F) or
    // `hash8` (AVX2), whose callers checked the CPU; loads and stores are of whole arrays of
    // the vector's size, unaligned.
    impl Vector<16> for __m512i {
        /// Sixteen rows of sixteen words, transposed: 32-bit then 64-bit interleaves within
        /// each 128-bit lane, then two rounds of 128-bit lane shuffles.
        #[inline(always)]
        fn load_blocks(blocks: &[&[u8; BLOCK_LEN]; 16]) -> [Self; 16] {
            unsafe {
                let r: [__m512i; 16] =
                    std::array::from_fn(|l| _mm512_loadu_si512(blocks[l].as_ptr().cast()));
                let mut t = r;
                for i in 0..8 {
                    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
                    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
                }
                // u[4i + j], 128-bit lane q: word 4q + j of rows 4i..4i+3.
                let mut u = t;
                for i in 0..4 {
                    u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
                    u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
                    u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
                    u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
                }
                // Word 4q + j, lane p: 128-bit lane q of u[4p + j].
                let mut out = u;
                for j in 0..4 {
                    let ab_lo = _mm512_shuffle_i32x4::<0x44>(u[j], u[4 + j]);
                    let ab_hi = _mm512_shuffle_i32x4::<0xEE>(u[j], u[4 + j]);
                    let cd_lo = _mm512_shuffle_i32x4::<0x44>(u[8 + j], u[12 + j]);
                    let cd_hi = _mm512_shuffle_i32x4::<0xEE>(u[8 + j], u[12 + j]);
                    out[j] = _mm512_shuffle_i32x4::<0x88>(ab_lo, cd_lo);
                    out[4 + j] = _mm512_shuffle_i32x4::<0xDD>(ab_lo, cd_lo);
                    out[8 + j] = _mm512_shuffle_i32x4::<0x88>(ab_hi, cd_hi);
                    out[12 + j] = _mm512_shuffle_i32x4::<0xDD>(ab_hi, cd_hi);
                }
                out
            }
        }
        #[inline(always)]
        fn load(words: &[u32; 16]) -> Self {
            unsafe { _mm512_loadu_si512(words.as_ptr().cast()) }
        }
        #[inline(always)]
        fn store(self, words: &mut [u32; 16]) {
            unsafe { _mm512_storeu_si512(words.as_mut_ptr().cast(), self) }
        }
        #[inline(always)]
        fn splat(x: u32) -> Self {
            unsafe { _mm512_set1_epi32(x as i32) }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { _mm512_add_epi32(self, o) }
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            unsafe { _mm512_xor_si512(self, o) }
        }
        #[inline(always)]
        fn rot16(self) -> Self {
            unsafe { _mm512_ror_epi32::<16>(self) }
        }
        #[inline(always)]
        fn rot12(self) -> Self {
            unsafe { _mm512_ror_epi32::<12>(self) }
        }
        #[inline(always)]
        fn rot8(self) -> Self {
            unsafe { _mm512_ror_epi32::<8>(self) }
        }
        #[inline(always)]
        fn rot7(self) -> Self {
            unsafe { _mm512_ror_epi32::<7>(self) }
        }
    }

    impl Vector<8> for __m256i {
        /// Eight rows of sixteen words: each half (words 0–7, 8–15) an 8×8 transpose.
        #[inline(always)]
        fn load_blocks(blocks: &[&[u8; BLOCK_LEN]; 8]) -> [Self; 16] {
            unsafe {
                let mut out = [_mm256_setzero_si256(); 16];
                for half in 0..2 {
                    let r: [__m256i; 8] = std::array::from_fn(|l| {
                        _mm256_loadu_si256(blocks[l].as_ptr().add(32 * half).cast())
                    });
                    let mut t = r;
                    for i in 0..4 {
                        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
                        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
                    }
                    let mut u = t;
                    for i in 0..2 {
                        u[4 * i] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
                        u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
                        u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
                        u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
                    }
                    for j in 0..4 {
                        out[8 * half + j] = _mm256_permute2x128_si256::<0x20>(u[j], u[4 + j]);
                        out[8 * half + 4 + j] = _mm256_permute2x128_si256::<0x31>(u[j], u[4 + j]);
                    }
                }
                out
            }
        }
        #[inline(always)]
        fn load(words: &[u32; 8]) -> Self {
            unsafe { _mm256_loadu_si256(words.as_ptr().cast()) }
        }
        #[inline(always)]
        fn store(self, words: &mut [u32; 8]) {
            unsafe { _mm256_storeu_si256(words.as_mut_ptr().cast(), self) }
        }
        #[inline(always)]
        fn splat(x: u32) -> Self {
            unsafe { _mm256_set1_epi32(x as i32) }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { _mm256_add_epi32(self, o) }
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            unsafe { _mm256_xor_si256(self, o) }
        }
        #[inline(always)]
        fn rot16(self) -> Self {
            unsafe {
                _mm256_shuffle_epi8(
                    self,
                    _mm256_set_epi8(
                        13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, 13, 12, 15, 14, 9, 8,
                        11, 10, 5, 4, 7, 6, 1, 0, 3, 2,
                    ),
                )
            }
        }
        #[inline(always)]
        fn rot12(self) -> Self {
            unsafe { _mm256_or_si256(_mm256_srli_epi32::<12>(self), _mm256_slli_epi32::<20>(self)) }
        }
        #[inline(always)]
        fn rot8(self) -> Self {
            unsafe {
                _mm256_shuffle_epi8(
                    self,
                    _mm256_set_epi8(
                        12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1, 12, 15, 14, 13, 8,
                        11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1,
                    ),
                )
            }
        }
        #[inline(always)]
        fn rot7(self) -> Self {
            unsafe { _mm256_or_si256(_mm256_srli_epi32::<7>(self), _mm256_slli_epi32::<25>(self)) }
        }
    }
}

/// Plain arrays: the same code on any machine, for the tests (hash_many itself falls back to
/// `blake3::hash` where neither vector unit is present).
#[cfg(test)]
impl<const L: usize> Vector<L> for [u32; L] {
    fn load_blocks(blocks: &[&[u8; BLOCK_LEN]; L]) -> [Self; 16] {
        std::array::from_fn(|w| {
            std::array::from_fn(|l| {
                u32::from_le_bytes(blocks[l][4 * w..4 * w + 4].try_into().expect("four bytes"))
            })
        })
    }
    fn load(words: &[u32; L]) -> Self {
        *words
    }
    fn store(self, words: &mut [u32; L]) {
        *words = self;
    }
    fn splat(x: u32) -> Self {
        [x; L]
    }
    fn add(self, o: Self) -> Self {
        std::array::from_fn(|l| self[l].wrapping_add(o[l]))
    }
    fn xor(self, o: Self) -> Self {
        std::array::from_fn(|l| self[l] ^ o[l])
    }
    fn rot16(self) -> Self {
        self.map(|x| x.rotate_right(16))
    }
    fn rot12(self) -> Self {
        self.map(|x| x.rotate_right(12))
    }
    fn rot8(self) -> Self {
        self.map(|x| x.rotate_right(8))
    }
    fn rot7(self) -> Self {
        self.map(|x| x.rotate_right(7))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    fn check(inputs: &[Vec<u8>]) {
        let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        let mut out = vec![[0u8; 32]; refs.len()];
        hash_many(&refs, &mut out);
        for (i, o) in refs.iter().zip(&out) {
            assert_eq!(o, blake3::hash(i).as_bytes(), "input of {} bytes", i.len());
        }
    }

    #[test]
    fn every_length_up_to_two_chunks_equals_blake3() {
        let all: Vec<Vec<u8>> = (0..=2 * CHUNK_LEN + 1).map(|n| input(n, n as u8)).collect();
        check(&all);
    }

    #[test]
    fn mixed_lengths_in_one_group_and_a_short_last_group() {
        for count in [1, 7, 8, 9, 15, 16, 17, 33] {
            let inputs: Vec<Vec<u8>> = (0..count)
                .map(|i| {
                    input(
                        [0, 1, 63, 64, 65, 200, 1023, 1024, 1025, 12][i % 10],
                        i as u8,
                    )
                })
                .collect();
            check(&inputs);
        }
    }

    #[test]
    fn each_instruction_set_equals_blake3() {
        let inputs: Vec<Vec<u8>> = (0..40).map(|i| input(i * 29 % 700, i as u8)).collect();
        let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        let want: Vec<[u8; 32]> = refs.iter().map(|i| *blake3::hash(i).as_bytes()).collect();
        let mut out = vec![[0u8; 32]; refs.len()];
        for (i, o) in refs.chunks(4).zip(out.chunks_mut(4)) {
            hash_lanes::<[u32; 4], 4>(i, o);
        }
        assert_eq!(out, want, "portable lanes");
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut out = vec![[0u8; 32]; refs.len()];
                for (i, o) in refs.chunks(8).zip(out.chunks_mut(8)) {
                    // SAFETY: AVX2 is present, checked just above.
                    unsafe { x86::hash8(i, o) };
                }
                assert_eq!(out, want, "AVX2");
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                let mut out = vec![[0u8; 32]; refs.len()];
                for (i, o) in refs.chunks(16).zip(out.chunks_mut(16)) {
                    // SAFETY: AVX-512F is present, checked just above.
                    unsafe { x86::hash16(i, o) };
                }
                assert_eq!(out, want, "AVX-512");
            }
        }
    }
}

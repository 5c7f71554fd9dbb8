//! Merkle roots over bucket leaves: rs_merkle with a blake3 hasher, leaves in bucket order.
//!
//! An inner node is `blake3(left ‖ right)`. The leaf hashes fed in are already domain-separated
//! (`blake3("cutover-leaf-v1" ‖ …)`, 55 bytes of input, see [`crate::digest::Leaf::hash`]), so a
//! leaf can never be read as an inner node (64 bytes of input) or the other way round.
//!
//! Edge cases, fixed as part of hash_version 1:
//! - one leaf (k = 0): the root is that leaf's hash (rs_merkle's rule: nothing to combine);
//! - no leaves: the root is `blake3("cutover-merkle-empty-v1")`. [`crate::digest::Leaves`] always
//!   has 2^k ≥ 1 leaves, so this only makes [`root`] total;
//! - a level with an odd node promotes it unchanged (rs_merkle's rule). Bucket counts are powers of
//!   two, so it never happens for table roots.
use rs_merkle::{Hasher, MerkleTree};

/// Domain string hashed for the root of an empty leaf list.
const EMPTY_ROOT_DOMAIN: &[u8] = b"cutover-merkle-empty-v1";

/// blake3 as an [`rs_merkle::Hasher`] with 32-byte hashes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Blake3Hasher;

impl Hasher for Blake3Hasher {
    type Hash = [u8; 32];

    fn hash(data: &[u8]) -> [u8; 32] {
        *blake3::hash(data).as_bytes()
    }

    /// Same value as the trait's default (`hash(left ‖ right)`, lone left promoted), without
    /// building a `Vec` per node.
    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(right) => {
                let mut h = blake3::Hasher::new();
                h.update(left);
                h.update(right);
                *h.finalize().as_bytes()
            }
            None => *left,
        }
    }
}

/// The Merkle root of these leaf hashes, in the order given (bucket order for tables).
pub fn root(leaf_hashes: &[[u8; 32]]) -> [u8; 32] {
    if leaf_hashes.is_empty() {
        return *blake3::hash(EMPTY_ROOT_DOMAIN).as_bytes();
    }
    MerkleTree::<Blake3Hasher>::from_leaves(leaf_hashes)
        .root()
        .expect("a tree with at least one leaf has a root")
}

/// [`root`] as 64 lowercase hex digits, the form written to manifests and reports.
pub fn root_hex(leaf_hashes: &[[u8; 32]]) -> String {
    hex::encode(root(leaf_hashes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> [u8; 32] {
        *blake3::hash(s.as_bytes()).as_bytes()
    }

    fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
        let mut buf = l.to_vec();
        buf.extend_from_slice(r);
        *blake3::hash(&buf).as_bytes()
    }

    #[test]
    fn single_leaf_root_is_the_leaf() {
        assert_eq!(root(&[h("a")]), h("a"));
    }

    #[test]
    fn empty_root_is_the_domain_hash() {
        assert_eq!(
            root(&[]),
            *blake3::hash(b"cutover-merkle-empty-v1").as_bytes()
        );
        assert_ne!(root(&[]), root(&[[0; 32]]));
    }

    #[test]
    fn four_leaves_match_a_hand_built_tree() {
        let l = [h("a"), h("b"), h("c"), h("d")];
        let expected = node(&node(&l[0], &l[1]), &node(&l[2], &l[3]));
        assert_eq!(root(&l), expected);
        assert_eq!(root_hex(&l), hex::encode(expected));
    }

    #[test]
    fn concat_and_hash_matches_the_trait_default() {
        // The override must not change hash_version 1 roots: compare with the default formula.
        let (a, b) = (h("x"), h("y"));
        assert_eq!(Blake3Hasher::concat_and_hash(&a, Some(&b)), node(&a, &b));
        assert_eq!(Blake3Hasher::concat_and_hash(&a, None), a);
    }

    #[test]
    fn root_depends_on_leaf_order() {
        assert_ne!(root(&[h("a"), h("b")]), root(&[h("b"), h("a")]));
    }
}

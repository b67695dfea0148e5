//! Sealing and opening the tunnel's datagrams: ChaCha20-Poly1305 (RFC 8439)
//! with keys from an X25519 agreement between two hosts' key pairs, HKDF-SHA256
//! to one key per direction, a 64-bit counter as nonce and a sliding replay
//! window on the receiving side.
//!
//! Datagram: `type (1) | reserved (3) | counter (8, little-endian) |
//! ciphertext | tag (16)`; the 12-byte header is the associated data, the
//! nonce is four zero bytes and the counter. Nonces never repeat under one
//! key because every key pair is made at agent start and lives only in that
//! process's memory: a restarted agent has new keys (so new link keys) and
//! starts its counters at zero again under them. The counter never wraps
//! (sealing stops at `u64::MAX`, some centuries away at line rate).
//!
//! The primitives are RustCrypto's (`chacha20poly1305`, `x25519-dalek`,
//! `hkdf`); only the framing, the key schedule's labels and the replay window
//! are ours.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use base64::Engine as _;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{PublicKey, ReusableSecret};

/// Bytes before the ciphertext.
pub const HEADER_LEN: usize = 12;
/// Bytes of the Poly1305 tag after it.
pub const TAG_LEN: usize = 16;
/// What sealing adds to a packet.
pub const SEAL_OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// Counters accepted out of order behind the highest one seen.
pub const REPLAY_WINDOW: u64 = 2048;

const DATA: u8 = 1;
const LABEL: &[u8] = b"shoal overlay tunnel v1";
const WORDS: usize = (REPLAY_WINDOW / 64) as usize;

/// Why a datagram was not sealed or not opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("datagram of {0} bytes is too short")]
    TooShort(usize),
    #[error("datagram type {0} is not data")]
    NotData(u8),
    #[error("counter {0} was already seen or is behind the replay window")]
    Replayed(u64),
    #[error("datagram with counter {0} failed authentication")]
    Forged(u64),
    #[error("public key {0:?} is not a usable x25519 key")]
    BadKey(String),
    #[error("the send counter is exhausted")]
    Exhausted,
}

/// This host's X25519 key pair, made at agent start, never written anywhere.
pub struct KeyPair {
    secret: ReusableSecret,
    public: PublicKey,
}

impl KeyPair {
    pub fn generate() -> Self {
        let secret = ReusableSecret::random_from_rng(rand::rngs::OsRng);
        let public = PublicKey::from(&secret);
        KeyPair { secret, public }
    }

    pub fn public(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    /// The public key as published in the store (standard base64).
    pub fn public_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.public())
    }

    /// The two directional keys of the link to the host whose public key is
    /// `peer`. Refuses keys that give a non-contributory agreement (the
    /// low-order points, which would make the shared secret public).
    pub fn link(&self, peer: &[u8; 32]) -> Result<(Sealer, Opener), SealError> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(*peer));
        if !shared.was_contributory() {
            return Err(SealError::BadKey(encode(peer)));
        }
        let hk = Hkdf::<Sha256>::new(Some(LABEL), shared.as_bytes());
        let key = |from: &[u8; 32], to: &[u8; 32]| {
            let mut okm = [0u8; 32];
            let info = [LABEL, from.as_slice(), to.as_slice()].concat();
            // 32 bytes is far below HKDF-SHA256's limit of 8160.
            hk.expand(&info, &mut okm)
                .expect("32 bytes is a valid hkdf length");
            ChaCha20Poly1305::new(Key::from_slice(&okm))
        };
        let mine = self.public();
        Ok((
            Sealer {
                cipher: key(&mine, peer),
                counter: AtomicU64::new(0),
            },
            Opener {
                cipher: key(peer, &mine),
                window: Mutex::new(ReplayWindow::default()),
            },
        ))
    }
}

fn encode(key: &[u8; 32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// Reads a public key as published in the store.
pub fn decode_public(text: &str) -> Result<[u8; 32], SealError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| SealError::BadKey(text.to_string()))
}

fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    *Nonce::from_slice(&n)
}

/// The sending half of a link.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    counter: AtomicU64,
}

impl Sealer {
    /// Writes the sealed datagram of `packet` into `out` (cleared first).
    pub fn seal(&self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), SealError> {
        let counter = self.counter.fetch_add(1, Ordering::Relaxed);
        if counter == u64::MAX {
            self.counter.store(u64::MAX, Ordering::Relaxed);
            return Err(SealError::Exhausted);
        }
        out.clear();
        out.extend_from_slice(&[DATA, 0, 0, 0]);
        out.extend_from_slice(&counter.to_le_bytes());
        out.extend_from_slice(packet);
        let (header, body) = out.split_at_mut(HEADER_LEN);
        let tag = self
            .cipher
            .encrypt_in_place_detached(&nonce(counter), header, body)
            .map_err(|_| SealError::TooShort(packet.len()))?;
        out.extend_from_slice(&tag);
        Ok(())
    }
}

/// The receiving half of a link.
pub struct Opener {
    cipher: ChaCha20Poly1305,
    window: Mutex<ReplayWindow>,
}

impl Opener {
    /// Authenticates and decrypts `datagram` in place; returns the packet.
    /// A counter is accepted once, and only after authentication.
    pub fn open<'a>(&self, datagram: &'a mut [u8]) -> Result<&'a [u8], SealError> {
        let len = datagram.len();
        if len < SEAL_OVERHEAD {
            return Err(SealError::TooShort(len));
        }
        if datagram[0] != DATA {
            return Err(SealError::NotData(datagram[0]));
        }
        let mut c = [0u8; 8];
        c.copy_from_slice(&datagram[4..HEADER_LEN]);
        let counter = u64::from_le_bytes(c);
        if !self.window().fresh(counter) {
            return Err(SealError::Replayed(counter));
        }
        let (header, rest) = datagram.split_at_mut(HEADER_LEN);
        let (body, tag) = rest.split_at_mut(len - SEAL_OVERHEAD);
        let tag = *Tag::from_slice(tag);
        self.cipher
            .decrypt_in_place_detached(&nonce(counter), header, body, &tag)
            .map_err(|_| SealError::Forged(counter))?;
        if !self.window().accept(counter) {
            return Err(SealError::Replayed(counter));
        }
        Ok(&datagram[HEADER_LEN..len - TAG_LEN])
    }

    fn window(&self) -> std::sync::MutexGuard<'_, ReplayWindow> {
        // A panic while holding it leaves a consistent window.
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Which counters were seen: `next` is one past the highest accepted, and
/// bit `n % REPLAY_WINDOW` of `seen` says whether counter `n` (within the
/// window behind `next`) was.
#[derive(Debug)]
pub struct ReplayWindow {
    next: u64,
    seen: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            next: 0,
            seen: [0; WORDS],
        }
    }
}

impl ReplayWindow {
    fn bit(n: u64) -> (usize, u64) {
        let i = n % REPLAY_WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    /// Whether `n` could still be accepted.
    pub fn fresh(&self, n: u64) -> bool {
        if n >= self.next {
            return true;
        }
        if self.next - n > REPLAY_WINDOW {
            return false;
        }
        let (w, b) = Self::bit(n);
        self.seen[w] & b == 0
    }

    /// Records `n`; false if it was not fresh.
    pub fn accept(&mut self, n: u64) -> bool {
        if !self.fresh(n) {
            return false;
        }
        if n >= self.next {
            // Forget what slides out of the window: the slots of the
            // counters between the old top and `n`.
            if n - self.next >= REPLAY_WINDOW {
                self.seen = [0; WORDS];
            } else {
                for m in self.next..n {
                    let (w, b) = Self::bit(m);
                    self.seen[w] &= !b;
                }
            }
            self.next = n + 1;
        }
        let (w, b) = Self::bit(n);
        self.seen[w] |= b;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> ((Sealer, Opener), (Sealer, Opener)) {
        let a = KeyPair::generate();
        let b = KeyPair::generate();
        (a.link(&b.public()).unwrap(), b.link(&a.public()).unwrap())
    }

    fn sealed(s: &Sealer, packet: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        s.seal(packet, &mut out).unwrap();
        out
    }

    #[test]
    fn a_sealed_packet_opens_on_the_other_side_only() {
        let ((a_send, a_open), (b_send, b_open)) = pair();
        let packet = b"SHOAL-MARKER inner vxlan packet".to_vec();
        let mut d = sealed(&a_send, &packet);
        assert_eq!(d.len(), packet.len() + SEAL_OVERHEAD);
        assert!(
            !d.windows(12).any(|w| w == b"SHOAL-MARKER"),
            "plaintext visible in the datagram"
        );
        // Each direction has its own key: a cannot open its own datagram.
        let mut mine = d.clone();
        assert!(matches!(a_open.open(&mut mine), Err(SealError::Forged(0))));
        assert_eq!(b_open.open(&mut d).unwrap(), packet.as_slice());
        let mut back = sealed(&b_send, b"reply");
        assert_eq!(a_open.open(&mut back).unwrap(), b"reply");
    }

    #[test]
    fn tampering_anywhere_is_rejected() {
        let ((a_send, _), (_, b_open)) = pair();
        let good = sealed(&a_send, b"some packet bytes");
        // Every byte of ciphertext, tag and header (the counter is
        // authenticated as associated data).
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            let r = b_open.open(&mut bad);
            assert!(r.is_err(), "flipping byte {i} was not noticed");
        }
        let mut cut = good[..good.len() - 1].to_vec();
        assert!(b_open.open(&mut cut).is_err());
        let mut tiny = good[..SEAL_OVERHEAD - 1].to_vec();
        assert_eq!(
            b_open.open(&mut tiny),
            Err(SealError::TooShort(SEAL_OVERHEAD - 1))
        );
        // Failed attempts did not burn the counter: the real one still opens.
        let mut d = good.clone();
        assert_eq!(b_open.open(&mut d).unwrap(), b"some packet bytes");
    }

    #[test]
    fn a_replayed_datagram_is_rejected() {
        let ((a_send, _), (_, b_open)) = pair();
        let first = sealed(&a_send, b"one");
        let second = sealed(&a_send, b"two");
        let mut d = second.clone();
        assert_eq!(b_open.open(&mut d).unwrap(), b"two");
        // Out of order within the window is fine, once.
        let mut d = first.clone();
        assert_eq!(b_open.open(&mut d).unwrap(), b"one");
        for again in [&first, &second] {
            let mut d = again.clone();
            assert!(matches!(b_open.open(&mut d), Err(SealError::Replayed(_))));
        }
    }

    #[test]
    fn the_wrong_key_is_rejected() {
        let a = KeyPair::generate();
        let b = KeyPair::generate();
        let mallory = KeyPair::generate();
        let (a_send, _) = a.link(&b.public()).unwrap();
        // b expects a, but takes mallory's key for a's: nothing opens.
        let (_, b_open_wrong) = b.link(&mallory.public()).unwrap();
        let mut d = sealed(&a_send, b"for b");
        assert_eq!(b_open_wrong.open(&mut d), Err(SealError::Forged(0)));
        // mallory's own link to b does not produce a's datagrams either.
        let (m_send, _) = mallory.link(&b.public()).unwrap();
        let (_, b_open) = b.link(&a.public()).unwrap();
        let mut forged = sealed(&m_send, b"from mallory");
        assert_eq!(b_open.open(&mut forged), Err(SealError::Forged(0)));
        // A low-order point is refused as a peer key.
        assert!(matches!(a.link(&[0u8; 32]), Err(SealError::BadKey(_))));
    }

    #[test]
    fn keys_round_trip_through_the_store_text() {
        let a = KeyPair::generate();
        assert_eq!(decode_public(&a.public_base64()).unwrap(), a.public());
        assert!(decode_public("not base64!").is_err());
        assert!(decode_public("AAAA").is_err());
    }

    #[test]
    fn the_window_slides() {
        let mut w = ReplayWindow::default();
        assert!(w.accept(0));
        assert!(!w.accept(0));
        assert!(w.accept(5000));
        // Too far behind the top now.
        assert!(!w.fresh(5000 - REPLAY_WINDOW - 1));
        assert!(!w.accept(0));
        // Just inside the window, and never seen: accepted once.
        assert!(w.accept(5000 - REPLAY_WINDOW + 1));
        assert!(!w.accept(5000 - REPLAY_WINDOW + 1));
        // A slot reused by a newer counter is not mistaken for it.
        assert!(w.accept(5001));
        assert!(w.accept(5001 + REPLAY_WINDOW - 1));
        assert!(!w.fresh(5001));
        // One never seen, still inside: accepted, then not again.
        assert!(w.accept(5002));
        assert!(!w.fresh(5002));
    }
}

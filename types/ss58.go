package types

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/blake2b"
)

// SS58 (Substrate's address format) is base58(prefix ++ key ++ checksum):
//   - prefix: 0..63 as one byte; 64..16383 as two bytes 01aaaaaa bbcccccc
//     holding the little-endian value aaaaaabb 00cccccc (the upper two bits
//     of the 16-bit value are unavailable, hence the 14-bit range);
//   - checksum: the first 2 bytes of blake2b-512("SS58PRE" ++ prefix ++ key).
//
// Only 32-byte keys (sr25519/ed25519 public keys, AccountId32) are handled.

const (
	ss58ChecksumLen = 2
	// ss58MaxPrefix is the largest prefix SS58 can express.
	ss58MaxPrefix = 1<<14 - 1
	// ss58MaxEncodedLen bounds the input of SS58Decode: the longest valid
	// 32-byte-key address (36 bytes) is 50 base58 digits. The bound keeps
	// the quadratic base58 conversion cheap on hostile input.
	ss58MaxEncodedLen = 64

	base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
)

// SS58Encode returns the SS58 address of a 32-byte public key for a network
// prefix (0 Polkadot, 2 Kusama, 42 generic Substrate, ...). Like Substrate,
// only the low 14 bits of prefix are used; values above 16383 are not
// addressable in SS58.
func SS58Encode(pub [32]byte, prefix uint16) string {
	ident := prefix & ss58MaxPrefix
	data := make([]byte, 0, 2+len(pub)+ss58ChecksumLen)
	if ident < 64 {
		data = append(data, byte(ident))
	} else {
		data = append(data,
			byte((ident&0b1111_1100)>>2)|0b0100_0000,
			byte(ident>>8)|(byte(ident&0b11)<<6))
	}
	data = append(data, pub[:]...)
	sum := ss58Checksum(data)
	data = append(data, sum[:ss58ChecksumLen]...)
	return base58Encode(data)
}

// SS58Decode parses an SS58 address of a 32-byte key and returns the key and
// its network prefix. Errors wrap ErrInvalidSS58. Like Substrate's
// from_ss58check_with_version, a two-byte prefix form whose value is below
// 64 is accepted (so re-encoding may give a shorter string), and any prefix
// is returned as is; checking it against the expected network is up to the
// caller.
func SS58Decode(s string) (pub [32]byte, prefix uint16, err error) {
	if len(s) > ss58MaxEncodedLen {
		return pub, 0, fmt.Errorf("%w: %d characters is too long", ErrInvalidSS58, len(s))
	}
	data, err := base58Decode(s)
	if err != nil {
		return pub, 0, err
	}
	if len(data) < 2 {
		return pub, 0, fmt.Errorf("%w: %d bytes is too short", ErrInvalidSS58, len(data))
	}
	prefixLen := 1
	switch {
	case data[0] < 64:
		prefix = uint16(data[0])
	case data[0] < 128:
		lower := data[0]<<2 | data[1]>>6
		upper := data[1] & 0b0011_1111
		prefix = uint16(lower) | uint16(upper)<<8
		prefixLen = 2
	default:
		return pub, 0, fmt.Errorf("%w: first byte %#02x is not a prefix", ErrInvalidSS58, data[0])
	}
	if len(data) != prefixLen+len(pub)+ss58ChecksumLen {
		return pub, 0, fmt.Errorf("%w: %d bytes, want %d for a 32-byte key", ErrInvalidSS58,
			len(data), prefixLen+len(pub)+ss58ChecksumLen)
	}
	body := data[:prefixLen+len(pub)]
	sum := ss58Checksum(body)
	if data[len(body)] != sum[0] || data[len(body)+1] != sum[1] {
		return pub, 0, fmt.Errorf("%w: checksum mismatch", ErrInvalidSS58)
	}
	copy(pub[:], body[prefixLen:])
	return pub, prefix, nil
}

func ss58Checksum(data []byte) [64]byte {
	// blake2b.New512 only fails for keys longer than 64 bytes; there is none.
	h, _ := blake2b.New512(nil)
	h.Write([]byte("SS58PRE"))
	h.Write(data)
	var out [64]byte
	h.Sum(out[:0])
	return out
}

// base58Encode is Bitcoin-alphabet base58 (as the Rust bs58 crate): every
// leading zero byte becomes a '1', the rest is the big-endian number in base
// 58. Quadratic, which is fine for the few dozen bytes of an address.
func base58Encode(data []byte) string {
	zeros := 0
	for zeros < len(data) && data[zeros] == 0 {
		zeros++
	}
	// log(256)/log(58) < 1.37, so this many digits always suffice.
	digits := make([]byte, 0, (len(data)-zeros)*137/100+1)
	for _, b := range data[zeros:] {
		carry := int(b)
		for i := range digits {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	var sb strings.Builder
	sb.Grow(zeros + len(digits))
	for range zeros {
		sb.WriteByte('1')
	}
	for i := len(digits) - 1; i >= 0; i-- {
		sb.WriteByte(base58Alphabet[digits[i]])
	}
	return sb.String()
}

// base58Decode inverts base58Encode; errors wrap ErrInvalidSS58.
func base58Decode(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	// Little-endian base-256 digits of the number.
	out := make([]byte, 0, len(s))
	for i := zeros; i < len(s); i++ {
		d := strings.IndexByte(base58Alphabet, s[i])
		if d < 0 {
			return nil, fmt.Errorf("%w: character %d is not base58", ErrInvalidSS58, i+1)
		}
		carry := d
		for j := range out {
			carry += int(out[j]) * 58
			out[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			out = append(out, byte(carry))
			carry >>= 8
		}
	}
	res := make([]byte, zeros+len(out))
	for i, b := range out {
		res[len(res)-1-i] = b
	}
	return res, nil
}

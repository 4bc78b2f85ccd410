package pwhash

import (
	"encoding/binary"
	"math/bits"

	"golang.org/x/crypto/blake2b"
)

// A portable Argon2 (RFC 9106) for what no maintained Go library offers: version 0x10 (1.0) of every type.
// Version 0x13 uses assembly-backed libraries: argon2i and argon2id from golang.org/x/crypto, argon2d from
// github.com/go-crypt/x (x/crypto's code with argon2d exported). The tests check this implementation against both.

const (
	argonD  = 0
	argonI  = 1
	argonID = 2

	argonBlockWords = 128 // 1 KiB blocks of 64-bit words
	argonSyncPoints = 4
)

type argonBlock [argonBlockWords]uint64

// argon2Key derives keyLen bytes. m, t and p have been checked against the caps (m ≥ 8p, t ≥ 1, p ≥ 1).
func argon2Key(mode int, version uint32, pw, salt []byte, t, m uint32, p uint8, keyLen uint32) []byte {
	threads := uint32(p)
	h0 := argonH0(mode, version, pw, salt, t, m, threads, keyLen)
	memory := m / (argonSyncPoints * threads) * (argonSyncPoints * threads)
	if memory < 2*argonSyncPoints*threads {
		memory = 2 * argonSyncPoints * threads
	}
	laneLen := memory / threads
	segLen := laneLen / argonSyncPoints
	B := make([]argonBlock, memory)

	var buf [1024]byte
	var seed [blake2b.Size + 8]byte
	copy(seed[:], h0[:])
	for lane := uint32(0); lane < threads; lane++ {
		for j := uint32(0); j < 2; j++ {
			binary.LittleEndian.PutUint32(seed[blake2b.Size:], j)
			binary.LittleEndian.PutUint32(seed[blake2b.Size+4:], lane)
			argonHPrime(buf[:], seed[:])
			for k := range B[lane*laneLen+j] {
				B[lane*laneLen+j][k] = binary.LittleEndian.Uint64(buf[8*k:])
			}
		}
	}

	for pass := uint32(0); pass < t; pass++ {
		for slice := uint32(0); slice < argonSyncPoints; slice++ {
			for lane := uint32(0); lane < threads; lane++ {
				argonSegment(B, mode, version, pass, slice, lane, threads, laneLen, segLen, memory, t)
			}
		}
	}

	last := &B[memory-1]
	for lane := uint32(0); lane < threads-1; lane++ {
		for k := range last {
			last[k] ^= B[lane*laneLen+laneLen-1][k]
		}
	}
	for k := range last {
		binary.LittleEndian.PutUint64(buf[8*k:], last[k])
	}
	out := make([]byte, keyLen)
	argonHPrime(out, buf[:])
	return out
}

func argonH0(mode int, version uint32, pw, salt []byte, t, m, threads, keyLen uint32) [blake2b.Size]byte {
	h, _ := blake2b.New512(nil)
	var le [4]byte
	put := func(v uint32) {
		binary.LittleEndian.PutUint32(le[:], v)
		h.Write(le[:])
	}
	put(threads)
	put(keyLen)
	put(m)
	put(t)
	put(version)
	put(uint32(mode))
	put(uint32(len(pw)))
	h.Write(pw)
	put(uint32(len(salt)))
	h.Write(salt)
	put(0) // secret
	put(0) // associated data
	var out [blake2b.Size]byte
	h.Sum(out[:0])
	return out
}

// argonHPrime is Argon2's variable-length hash H'.
func argonHPrime(out, in []byte) {
	var le [4]byte
	binary.LittleEndian.PutUint32(le[:], uint32(len(out)))
	if len(out) <= blake2b.Size {
		h, _ := blake2b.New(len(out), nil)
		h.Write(le[:])
		h.Write(in)
		h.Sum(out[:0])
		return
	}
	h, _ := blake2b.New512(nil)
	h.Write(le[:])
	h.Write(in)
	var v [blake2b.Size]byte
	h.Sum(v[:0])
	r := (len(out)+31)/32 - 2
	pos := copy(out, v[:32])
	for i := 1; i < r; i++ {
		v = blake2b.Sum512(v[:])
		pos += copy(out[pos:], v[:32])
	}
	h, _ = blake2b.New(len(out)-32*r, nil)
	h.Write(v[:])
	h.Sum(out[pos:pos])
}

func argonSegment(B []argonBlock, mode int, version, pass, slice, lane, threads, laneLen, segLen, memory, t uint32) {
	var addresses, in, zero argonBlock
	independent := mode == argonI || (mode == argonID && pass == 0 && slice < argonSyncPoints/2)
	if independent {
		in[0], in[1], in[2], in[3], in[4], in[5] = uint64(pass), uint64(lane), uint64(slice), uint64(memory), uint64(t), uint64(mode)
	}
	index := uint32(0)
	if pass == 0 && slice == 0 {
		index = 2
		if independent {
			in[6]++
			argonG(&addresses, &in, &zero, false)
			argonG(&addresses, &addresses, &zero, false)
		}
	}
	offset := lane*laneLen + slice*segLen + index
	for ; index < segLen; index, offset = index+1, offset+1 {
		prev := offset - 1
		if index == 0 && slice == 0 {
			prev += laneLen
		}
		var random uint64
		if independent {
			if index%argonBlockWords == 0 {
				in[6]++
				argonG(&addresses, &in, &zero, false)
				argonG(&addresses, &addresses, &zero, false)
			}
			random = addresses[index%argonBlockWords]
		} else {
			random = B[prev][0]
		}
		ref := argonIndex(random, laneLen, segLen, threads, pass, slice, lane, index)
		// Version 0x13 XORs the new block into the old one on later passes; 0x10 overwrites it.
		argonG(&B[offset], &B[prev], &B[ref], version == 0x13 && pass > 0)
	}
}

func argonIndex(random uint64, laneLen, segLen, threads, pass, slice, lane, index uint32) uint32 {
	refLane := uint32(random>>32) % threads
	if pass == 0 && slice == 0 {
		refLane = lane
	}
	m, s := 3*segLen, ((slice+1)%argonSyncPoints)*segLen
	if lane == refLane {
		m += index
	}
	if pass == 0 {
		m, s = slice*segLen, 0
		if slice == 0 || lane == refLane {
			m += index
		}
	}
	if index == 0 || lane == refLane {
		m--
	}
	x := random & 0xffffffff
	x = (x * x) >> 32
	x = (x * uint64(m)) >> 32
	return refLane*laneLen + uint32((uint64(s)+uint64(m)-(x+1))%uint64(laneLen))
}

// argonG is the compression function: out = P(a ⊕ b) ⊕ a ⊕ b, or out ⊕= that when xor.
func argonG(out, a, b *argonBlock, xor bool) {
	var r argonBlock
	for i := range r {
		r[i] = a[i] ^ b[i]
	}
	for i := 0; i < argonBlockWords; i += 16 {
		blamka(&r[i], &r[i+1], &r[i+2], &r[i+3], &r[i+4], &r[i+5], &r[i+6], &r[i+7],
			&r[i+8], &r[i+9], &r[i+10], &r[i+11], &r[i+12], &r[i+13], &r[i+14], &r[i+15])
	}
	for i := 0; i < argonBlockWords/8; i += 2 {
		blamka(&r[i], &r[i+1], &r[16+i], &r[16+i+1], &r[32+i], &r[32+i+1], &r[48+i], &r[48+i+1],
			&r[64+i], &r[64+i+1], &r[80+i], &r[80+i+1], &r[96+i], &r[96+i+1], &r[112+i], &r[112+i+1])
	}
	if xor {
		for i := range r {
			out[i] ^= a[i] ^ b[i] ^ r[i]
		}
		return
	}
	for i := range r {
		out[i] = a[i] ^ b[i] ^ r[i]
	}
}

func fBlaMka(x, y uint64) uint64 { return x + y + 2*uint64(uint32(x))*uint64(uint32(y)) }

// gb is BLAKE2b's G with the BlaMka multiplication, on values so that it inlines and the 16 words stay in registers.
func gb(a, b, c, d uint64) (uint64, uint64, uint64, uint64) {
	a = fBlaMka(a, b)
	d = bits.RotateLeft64(d^a, -32)
	c = fBlaMka(c, d)
	b = bits.RotateLeft64(b^c, -24)
	a = fBlaMka(a, b)
	d = bits.RotateLeft64(d^a, -16)
	c = fBlaMka(c, d)
	b = bits.RotateLeft64(b^c, -63)
	return a, b, c, d
}

func blamka(t00, t01, t02, t03, t04, t05, t06, t07, t08, t09, t10, t11, t12, t13, t14, t15 *uint64) {
	v00, v01, v02, v03, v04, v05, v06, v07 := *t00, *t01, *t02, *t03, *t04, *t05, *t06, *t07
	v08, v09, v10, v11, v12, v13, v14, v15 := *t08, *t09, *t10, *t11, *t12, *t13, *t14, *t15
	v00, v04, v08, v12 = gb(v00, v04, v08, v12)
	v01, v05, v09, v13 = gb(v01, v05, v09, v13)
	v02, v06, v10, v14 = gb(v02, v06, v10, v14)
	v03, v07, v11, v15 = gb(v03, v07, v11, v15)
	v00, v05, v10, v15 = gb(v00, v05, v10, v15)
	v01, v06, v11, v12 = gb(v01, v06, v11, v12)
	v02, v07, v08, v13 = gb(v02, v07, v08, v13)
	v03, v04, v09, v14 = gb(v03, v04, v09, v14)
	*t00, *t01, *t02, *t03, *t04, *t05, *t06, *t07 = v00, v01, v02, v03, v04, v05, v06, v07
	*t08, *t09, *t10, *t11, *t12, *t13, *t14, *t15 = v08, v09, v10, v11, v12, v13, v14, v15
}

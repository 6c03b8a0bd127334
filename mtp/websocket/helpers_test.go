package websocket_test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
)

// Raw WebSocket frames, for peers that misbehave on purpose or reproduce
// another implementation's bytes exactly.

// writeFrame writes one final frame; a client's frames are masked.
func writeFrame(w io.Writer, opcode byte, payload []byte, masked bool) error {
	return writeFragment(w, true, opcode, payload, masked)
}

// writeFragment writes one frame, final or not; continuation frames have
// opcode 0.
func writeFragment(w io.Writer, fin bool, opcode byte, payload []byte, masked bool) error {
	hdr := []byte{opcode}
	if fin {
		hdr[0] |= 0x80
	}
	var m byte
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, m|byte(n))
	case n < 1<<16:
		hdr = append(hdr, m|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, m|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	if masked {
		key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
		hdr = append(hdr, key[:]...)
		p := bytes.Clone(payload)
		for i := range p {
			p[i] ^= key[i%4]
		}
		payload = p
	}
	_, err := w.Write(append(hdr, payload...))
	return err
}

type frame struct {
	fin     bool
	opcode  byte
	payload []byte
}

// readFrame reads one frame, unmasking it if needed.
func readFrame(r *bufio.Reader) (frame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return frame{}, err
	}
	f := frame{fin: h[0]&0x80 != 0, opcode: h[0] & 0x0f}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var key [4]byte
	if h[1]&0x80 != 0 {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return f, err
		}
	}
	if n > 64<<20 {
		return f, fmt.Errorf("frame of %d bytes", n)
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, err
	}
	if h[1]&0x80 != 0 {
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	return f, nil
}

// acceptKey computes Sec-WebSocket-Accept for a key (RFC 6455 section 4.2.2).
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

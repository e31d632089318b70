package sentencepiece

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Protobuf wire types.
const (
	wireVarint = 0
	wireI64    = 1
	wireLen    = 2
	wireI32    = 5
)

// Field is one encoded protobuf field kept verbatim: its number, wire type
// and value bytes (the varint bytes, the 4 or 8 fixed bytes, or the payload
// of a length-delimited field without its length prefix).
type Field struct {
	Num  int32
	Wire uint8
	Data []byte
}

// decoder walks the fields of one message.
type decoder struct {
	b    []byte
	off  int
	base int    // offset of b in the whole file, for error messages
	msg  string // message name, for error messages
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("sentencepiece: %s at byte %d: %s", d.msg, d.base+d.off, fmt.Sprintf(format, args...))
}

func (d *decoder) done() bool { return d.off >= len(d.b) }

func (d *decoder) varint() (uint64, error) {
	var v uint64
	for i := 0; i < 10; i++ {
		if d.off >= len(d.b) {
			return 0, d.errorf("truncated varint")
		}
		c := d.b[d.off]
		d.off++
		if i == 9 && c > 1 {
			return 0, d.errorf("varint overflows 64 bits")
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, d.errorf("varint longer than 10 bytes")
}

// next reads one field: its number, wire type and value bytes. For a
// varint field the value bytes are the varint itself.
func (d *decoder) next() (Field, error) {
	start := d.off
	tag, err := d.varint()
	if err != nil {
		return Field{}, err
	}
	num, wire := tag>>3, uint8(tag&7)
	if num == 0 || num > 1<<29-1 {
		d.off = start
		return Field{}, d.errorf("invalid field number %d", num)
	}
	f := Field{Num: int32(num), Wire: wire}
	switch wire {
	case wireVarint:
		s := d.off
		if _, err := d.varint(); err != nil {
			return f, err
		}
		f.Data = d.b[s:d.off]
	case wireI64, wireI32:
		n := 8
		if wire == wireI32 {
			n = 4
		}
		if len(d.b)-d.off < n {
			return f, d.errorf("field %d: truncated %d-byte value", num, n)
		}
		f.Data = d.b[d.off : d.off+n]
		d.off += n
	case wireLen:
		n, err := d.varint()
		if err != nil {
			return f, err
		}
		if n > uint64(len(d.b)-d.off) {
			return f, d.errorf("field %d: length %d runs past the end of the %s (%d bytes left)", num, n, d.msg, len(d.b)-d.off)
		}
		f.Data = d.b[d.off : d.off+int(n)]
		d.off += int(n)
	case 3, 4:
		return f, d.errorf("field %d uses protobuf groups (wire type %d), which SentencePiece models do not", num, wire)
	default:
		return f, d.errorf("field %d has invalid wire type %d", num, wire)
	}
	return f, nil
}

// sub returns a decoder over a length-delimited field's payload.
func (d *decoder) sub(f Field, msg string) *decoder {
	// f.Data is a slice of d.b ending at d.off.
	return &decoder{b: f.Data, base: d.base + d.off - len(f.Data), msg: msg}
}

func (d *decoder) want(f Field, wire uint8, name string) error {
	if f.Wire != wire {
		return d.errorf("field %d (%s) has wire type %d, want %d", f.Num, name, f.Wire, wire)
	}
	return nil
}

func varintValue(b []byte) uint64 {
	var v uint64
	for i, c := range b {
		v |= uint64(c&0x7f) << (7 * i)
	}
	return v
}

func (d *decoder) int32Field(f Field, name string) (int32, error) {
	if err := d.want(f, wireVarint, name); err != nil {
		return 0, err
	}
	return int32(int64(varintValue(f.Data))), nil
}

func (d *decoder) boolField(f Field, name string) (bool, error) {
	if err := d.want(f, wireVarint, name); err != nil {
		return false, err
	}
	return varintValue(f.Data) != 0, nil
}

func (d *decoder) floatField(f Field, name string) (float32, error) {
	if err := d.want(f, wireI32, name); err != nil {
		return 0, err
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(f.Data)), nil
}

// encoder appends fields to a buffer.
type encoder struct{ b []byte }

func (e *encoder) varint(v uint64) {
	e.b = binary.AppendUvarint(e.b, v)
}

func (e *encoder) tag(num int32, wire uint8) { e.varint(uint64(num)<<3 | uint64(wire)) }

func (e *encoder) int32(num int32, v int32) {
	e.tag(num, wireVarint)
	e.varint(uint64(int64(v))) // negative values take 10 bytes, as protobuf encodes int32
}

func (e *encoder) bool(num int32, v bool) {
	e.tag(num, wireVarint)
	if v {
		e.varint(1)
	} else {
		e.varint(0)
	}
}

func (e *encoder) float(num int32, v float32) {
	e.tag(num, wireI32)
	e.b = binary.LittleEndian.AppendUint32(e.b, math.Float32bits(v))
}

func (e *encoder) bytes(num int32, v []byte) {
	e.tag(num, wireLen)
	e.varint(uint64(len(v)))
	e.b = append(e.b, v...)
}

func (e *encoder) raw(f Field) {
	e.tag(f.Num, f.Wire)
	if f.Wire == wireLen {
		e.varint(uint64(len(f.Data)))
	}
	e.b = append(e.b, f.Data...)
}

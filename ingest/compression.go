package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/segmentio/kafka-go/compress"
)

// ErrBatchUnreadable is the error of a fetch holding a compressed record
// batch that cannot be read whatever the retries: it decompresses beyond
// the ratio (ErrCompressionRatio), or its codec refuses the bytes it was
// given whole (a corrupt or hostile frame). A failure to read the input
// itself (a connection cut) is not one.
var ErrBatchUnreadable = errors.New("unreadable record batch")

// ErrCompressionRatio is the error of a fetch holding a record batch that
// decompresses to more than max_compression_ratio times its compressed size
// (a decompression bomb): kafka-go decompresses a fetch's batches whole
// before the first record is read, so the ratio is what bounds the memory
// a fetch of max_bytes takes. It is an ErrBatchUnreadable.
var ErrCompressionRatio = fmt.Errorf("%w: it decompresses beyond max_compression_ratio", ErrBatchUnreadable)

// Dead-letter reasons of the records of a batch skipped unread.
const (
	// ReasonBatchTooLarge: it decompresses beyond the ratio.
	ReasonBatchTooLarge = "batch_too_large"
	// ReasonBatchUnreadable: its codec refuses it.
	ReasonBatchUnreadable = "batch_unreadable"
)

// compressionRatio is the process's limit (the kafka-go codecs it wraps are
// process-wide): the largest ratio of the consumers created.
var (
	compressionRatio atomic.Int64
	wrapCodecs       sync.Once
)

// limitDecompression makes kafka-go's codecs fail a record batch that
// decompresses to more than ratio times the compressed bytes read for it,
// raising the process's limit to ratio if it is below.
func limitDecompression(ratio int) {
	for {
		cur := compressionRatio.Load()
		if int64(ratio) <= cur || compressionRatio.CompareAndSwap(cur, int64(ratio)) {
			break
		}
	}
	wrapCodecs.Do(func() {
		for i, c := range compress.Codecs {
			switch {
			case c == nil:
			case compress.Compression(i) == compress.Zstd:
				// kafka-go's zstd reader takes the window a frame header
				// declares, up to 512 MiB, before its first output.
				compress.Codecs[i] = limitedCodec{zstdCodec{c}}
			case compress.Compression(i) == compress.Snappy:
				// kafka-go's snappy reader takes the length a frame
				// header declares, up to 4 GiB, before its first output.
				compress.Codecs[i] = limitedCodec{snappyCodec{c}}
			default:
				compress.Codecs[i] = limitedCodec{c}
			}
		}
	})
}

// limitedCodec is a kafka-go codec whose readers stop at the process's
// compression ratio; it writes as the codec it wraps.
type limitedCodec struct{ compress.Codec }

// NewReader returns a reader of the decompressed bytes of r that fails with
// ErrCompressionRatio once they exceed the ratio times the bytes read from
// r.
func (c limitedCodec) NewReader(r io.Reader) io.ReadCloser {
	cr := &countingReader{r: r}
	return &ratioReader{ReadCloser: c.Codec.NewReader(cr), in: cr, ratio: compressionRatio.Load(), name: c.Name()}
}

// countingReader counts the bytes read through it and keeps the first
// error other than io.EOF.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// ratioReader is a decompressing reader that fails once its output exceeds
// ratio times its input.
type ratioReader struct {
	io.ReadCloser
	in    *countingReader
	ratio int64
	out   int64
	name  string
}

func (r *ratioReader) Read(b []byte) (int, error) {
	// Never more than the ratio allows for what was read so far, and at
	// least a little, so that the codec reads its input.
	room := r.ratio*max(r.in.n, 1) - r.out
	if room <= 0 {
		return 0, fmt.Errorf("%w (%d): %s output %d bytes from %d compressed", ErrCompressionRatio, r.ratio, r.name, r.out, r.in.n)
	}
	if int64(len(b)) > room {
		b = b[:room]
	}
	n, err := r.ReadCloser.Read(b)
	r.out += int64(n)
	if err != nil && err != io.EOF && r.in.err == nil && !errors.Is(err, ErrBatchUnreadable) {
		// The codec refuses what it was given (its input read fine).
		return n, fmt.Errorf("%w: %s: %v", ErrBatchUnreadable, r.name, err)
	}
	return n, err
}

// zstdCodec is kafka-go's zstd codec whose readers take windows of at most
// maxZstdWindow: a frame declaring a larger one is refused (zstd's own
// limit is 512 MiB; producers' default windows are 8 MiB at most).
type zstdCodec struct{ compress.Codec }

// maxZstdWindow bounds a zstd frame's window.
const maxZstdWindow = 8 << 20

var zstdDecoders sync.Pool // *zstd.Decoder

// NewReader returns a reader of the decompressed bytes of r.
func (zstdCodec) NewReader(r io.Reader) io.ReadCloser {
	if d, _ := zstdDecoders.Get().(*zstd.Decoder); d != nil {
		if err := d.Reset(r); err == nil {
			return &zstdReader{d: d}
		}
	}
	d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxZstdWindow))
	if err != nil {
		return io.NopCloser(errReader{err})
	}
	return &zstdReader{d: d}
}

// zstdReader reads through a pooled decoder, returned to the pool on Close.
type zstdReader struct{ d *zstd.Decoder }

func (z *zstdReader) Read(b []byte) (int, error) {
	if z.d == nil {
		return 0, io.ErrClosedPipe
	}
	return z.d.Read(b)
}

func (z *zstdReader) Close() error {
	if z.d != nil {
		_ = z.d.Reset(bytes.NewReader(nil)) // do not keep the input
		zstdDecoders.Put(z.d)
		z.d = nil
	}
	return nil
}

// errReader fails every Read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// snappyCodec is kafka-go's snappy codec (xerial framing, or one raw block)
// whose readers check the length each block declares against the ratio
// before decoding it: the batch's compressed bytes are read first (kafka-go
// bounds them by the batch's length), then each block.
type snappyCodec struct{ compress.Codec }

// NewReader returns a reader of the decompressed bytes of r.
func (snappyCodec) NewReader(r io.Reader) io.ReadCloser { return &snappyReader{r: r} }

// xerialMagic starts the xerial framing (then a version and a compatible
// version, 4 bytes each, then frames of a 4-byte length and a block).
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// snappyReader decodes its input whole on the first Read.
type snappyReader struct {
	r       io.Reader
	out     []byte
	pos     int
	err     error
	decoded bool
}

func (s *snappyReader) Read(b []byte) (int, error) {
	if !s.decoded {
		s.decoded = true
		s.err = s.decode()
	}
	if s.pos < len(s.out) {
		n := copy(b, s.out[s.pos:])
		s.pos += n
		return n, nil
	}
	if s.err != nil {
		return 0, s.err
	}
	return 0, io.EOF
}

func (s *snappyReader) Close() error { return nil }

// decode decodes the input's blocks into out.
func (s *snappyReader) decode() error {
	in, err := io.ReadAll(s.r)
	if err != nil {
		return err
	}
	ratio := compressionRatio.Load()
	if len(in) < 16 || !bytes.Equal(in[:8], xerialMagic) {
		return s.block(in, ratio)
	}
	for in = in[16:]; len(in) > 0; {
		if len(in) < 4 {
			return fmt.Errorf("a snappy frame length of %d bytes", len(in))
		}
		n := binary.BigEndian.Uint32(in)
		in = in[4:]
		if uint64(n) > uint64(len(in)) {
			return fmt.Errorf("a snappy frame of %d bytes where %d are left", n, len(in))
		}
		if err := s.block(in[:n], ratio); err != nil {
			return err
		}
		in = in[n:]
	}
	return nil
}

// block decodes one snappy block after out, refusing one that declares
// more than ratio times its length.
func (s *snappyReader) block(b []byte, ratio int64) error {
	n, err := snappy.DecodedLen(b)
	if err != nil {
		return err
	}
	if int64(n) > ratio*int64(len(b)) {
		return fmt.Errorf("%w (%d): a snappy block of %d bytes declares %d", ErrCompressionRatio, ratio, len(b), n)
	}
	s.out = slices.Grow(s.out, n)
	dst, err := snappy.Decode(s.out[len(s.out):len(s.out)+n], b)
	if err != nil {
		return err
	}
	s.out = s.out[:len(s.out)+len(dst)]
	return nil
}

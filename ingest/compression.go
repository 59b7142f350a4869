package ingest

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/segmentio/kafka-go/compress"
)

// ErrCompressionRatio is the error of a fetch holding a record batch that
// decompresses to more than max_compression_ratio times its compressed size
// (a decompression bomb): kafka-go decompresses a fetch's batches whole
// before the first record is read, so the ratio is what bounds the memory
// a fetch of max_bytes takes.
var ErrCompressionRatio = errors.New("record batch decompresses beyond max_compression_ratio")

// ReasonBatchTooLarge is the dead-letter reason of the records of a batch
// skipped for ErrCompressionRatio.
const ReasonBatchTooLarge = "batch_too_large"

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
			if c != nil {
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

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
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
	return n, err
}

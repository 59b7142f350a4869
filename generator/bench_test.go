package generator

import (
	"testing"

	"github.com/driftwatch/driftwatch/telemetry"
)

// benchGenerator has models of 12 numeric and 4 categorical features, like
// telemetry's decode benchmark.
func benchGenerator(b *testing.B, bad float64) *Generator {
	sc := DefaultScenario(4, 16)
	sc.Start = testStart
	sc.BadFraction = bad
	g, err := New(sc, 1)
	if err != nil {
		b.Fatal(err)
	}
	return g
}

func BenchmarkNext(b *testing.B) {
	g := benchGenerator(b, 0)
	var e telemetry.Event
	b.ReportAllocs()
	for b.Loop() {
		g.Next(&e)
	}
}

func BenchmarkAppend(b *testing.B) {
	g := benchGenerator(b, 0)
	var e telemetry.Event
	g.Next(&e)
	buf := g.Append(nil, &e)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = g.Append(buf[:0], &e)
	}
}

func BenchmarkNextMessage(b *testing.B) {
	g := benchGenerator(b, 0.01)
	var buf []byte
	var bytes int64
	b.ReportAllocs()
	for b.Loop() {
		_, buf = g.NextMessage(buf)
		bytes += int64(len(buf))
	}
	b.SetBytes(bytes / int64(max(b.N, 1)))
}

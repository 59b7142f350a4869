package generator

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/driftwatch/driftwatch/telemetry"
)

// LabelSource is the label_source of generated labels.
const LabelSource = "generator"

// LabelStats counts a generator's labels.
type LabelStats struct {
	// Generated is the labels drawn for predictions, kept or dropped.
	Generated int64
	// Dropped is the labels dropped because Labels.MaxPending labels were
	// pending when they were drawn.
	Dropped int64
	// Pending is the labels drawn and kept but not yet returned by
	// NextLabel or FlushLabel.
	Pending int
}

// pendingLabel is a label drawn and waiting for its label_time. It holds
// strings the inference already has (no allocation per label).
type pendingLabel struct {
	at    int64 // label_time, Unix nanoseconds
	seq   int64 // generation order: breaks ties of at, so equal times keep it
	id    string
	model string
	class string
}

func (p *pendingLabel) before(q *pendingLabel) bool {
	return p.at < q.at || p.at == q.at && p.seq < q.seq
}

// labeler is the label state of a Generator; nil when the scenario has none.
type labeler struct {
	spec       Labels
	rng        *rand.Rand // labels' own source: the inferences do not see it
	pending    []pendingLabel
	clock      int64 // event time of the last event, Unix nanoseconds
	gen, drops int64
}

func newLabeler(l Labels, seed int64) *labeler {
	if l.Share == 0 {
		l.Share = 1
	}
	if l.MaxPending == 0 {
		l.MaxPending = DefaultMaxPendingLabels
	}
	return &labeler{
		spec: l,
		rng:  rand.New(rand.NewPCG(uint64(seed)^0x6c62272e07bb0142, uint64(seed)+0x2545f4914f6cdd1d)),
	}
}

// draw decides the label of the event just generated: whether it gets one,
// its truth and its label_time; and moves the label clock to t. A binary
// classifier's truth is positive with probability score (the model is
// calibrated); flip is the share of truths then flipped (concept drift).
func (lb *labeler) draw(seq int64, t time.Time, id, model string, score, flip float64) {
	lb.clock = t.UnixNano()
	if lb.spec.Share < 1 && lb.rng.Float64() >= lb.spec.Share {
		return
	}
	positive := lb.rng.Float64() < score
	if flip > 0 && lb.rng.Float64() < flip {
		positive = !positive
	}
	d := lb.spec.Delay
	if lb.spec.Jitter > 0 {
		d += time.Duration(lb.rng.Int64N(int64(lb.spec.Jitter) + 1))
	}
	lb.gen++
	if len(lb.pending) >= lb.spec.MaxPending {
		lb.drops++
		return
	}
	class := ClassNegative
	if positive {
		class = ClassPositive
	}
	lb.push(pendingLabel{at: t.Add(d).UnixNano(), seq: seq, id: id, model: model, class: class})
}

// push adds p to the pending min-heap.
func (lb *labeler) push(p pendingLabel) {
	h := append(lb.pending, p)
	for i := len(h) - 1; i > 0; {
		up := (i - 1) / 2
		if !h[i].before(&h[up]) {
			break
		}
		h[i], h[up] = h[up], h[i]
		i = up
	}
	lb.pending = h
}

// pop removes and returns the earliest pending label.
func (lb *labeler) pop() pendingLabel {
	h := lb.pending
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = pendingLabel{} // let the strings go
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].before(&h[m]) {
			m = l
		}
		if r < len(h) && h[r].before(&h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	lb.pending = h
	return top
}

// NextLabel fills l with the earliest pending label whose label_time the
// generator's clock (the event time of the last event Next made) has
// reached, and reports whether there was one. Calling it until it returns
// false after each Next interleaves labels with inferences in event time: a
// label whose label_time is T comes after the first event at T or later,
// never before. It returns false when the scenario has no Labels.
func (g *Generator) NextLabel(l *telemetry.Label) bool {
	lb := g.lab
	if lb == nil || len(lb.pending) == 0 || lb.pending[0].at > lb.clock {
		return false
	}
	fillLabel(l, lb.pop())
	return true
}

// FlushLabel fills l with the earliest pending label whatever its
// label_time, and reports whether there was one. It is for the end of a
// run: labels still pending then (those whose label_time the last event
// did not reach) are produced in label_time order after the last event.
func (g *Generator) FlushLabel(l *telemetry.Label) bool {
	lb := g.lab
	if lb == nil || len(lb.pending) == 0 {
		return false
	}
	fillLabel(l, lb.pop())
	return true
}

// LabelStats returns the counts of the labels drawn, dropped and pending;
// all zero when the scenario has no Labels.
func (g *Generator) LabelStats() LabelStats {
	if g.lab == nil {
		return LabelStats{}
	}
	return LabelStats{Generated: g.lab.gen, Dropped: g.lab.drops, Pending: len(g.lab.pending)}
}

func fillLabel(l *telemetry.Label, p pendingLabel) {
	*l = telemetry.Label{
		SchemaVersion: "1",
		PredictionID:  p.id,
		ModelID:       p.model,
		Truth:         telemetry.Truth{Class: p.class},
		LabelSource:   LabelSource,
		LabelTime:     time.Unix(0, p.at).UTC(),
	}
}

// AppendLabel appends the JSON of l (the label event of docs/telemetry.md)
// to dst and returns the extended slice. Empty optional fields and a zero
// revision are left out; a non-finite label.value is written as a string,
// which telemetry.Decoder rejects.
func AppendLabel(dst []byte, l *telemetry.Label) []byte {
	schema := l.SchemaVersion
	if schema == "" {
		schema = "1"
	}
	dst = append(dst, `{"schema_version":`...)
	dst = appendString(dst, schema)
	dst = append(dst, `,"prediction_id":`...)
	dst = appendString(dst, l.PredictionID)
	dst = append(dst, `,"model_id":`...)
	dst = appendString(dst, l.ModelID)
	dst = append(dst, `,"label":{`...)
	n := 0
	dst, n = appendField(dst, n, "class", l.Truth.Class)
	if l.Truth.Value != nil {
		dst = comma(dst, n)
		dst = append(dst, `"value":`...)
		dst = appendFloat(dst, *l.Truth.Value)
	}
	dst = append(dst, '}')
	if l.LabelSource != "" {
		dst = append(dst, `,"label_source":`...)
		dst = appendString(dst, l.LabelSource)
	}
	dst = append(dst, `,"label_time":"`...)
	dst = l.LabelTime.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	if l.Revision != 0 {
		dst = append(dst, `,"revision":`...)
		dst = strconv.AppendUint(dst, l.Revision, 10)
	}
	return append(dst, '}')
}

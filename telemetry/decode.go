package telemetry

import (
	stdjson "encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// Decoder decodes events. Not safe for concurrent use: use one Decoder per
// goroutine.
//
// Inference and feedback events take a fast path first: one scan of the
// bytes straight into the Event's (Feedback's) reused slices, without
// allocating. An event the fast path does not take (an escape in a string, a
// duplicate key, a type it does not expect, JSON it cannot vouch for) goes
// through the slow path, a JSON library into maps, which names the reason of
// every rejection. Both paths end in the same checks, so they accept and
// reject the same events with the same values (FuzzFastPathAgrees,
// FuzzFeedbackFastPathAgrees). Labels take the slow path only.
type Decoder struct {
	lim Limits
	now func() time.Time
	// pinnedNow stands for now() while pinned (Pin).
	pinnedNow time.Time
	pinned    bool
	w         inferenceWire
	lw        labelWire
	fw        feedbackWire
	maps      wireMaps
	fast      fastScanner
	// slow counts the inference and feedback events that took the slow path.
	slow uint64
}

// wireMaps are the maps the slow path decodes into, reused.
type wireMaps struct {
	num, prob map[string]float64
	cat, attr map[string]string
}

// wireFeatures are Features as the JSON library decodes them.
type wireFeatures struct {
	Numeric     map[string]float64 `json:"numeric"`
	Categorical map[string]string  `json:"categorical"`
}

// wirePrediction is Prediction as the JSON library decodes it.
type wirePrediction struct {
	Score         *float64           `json:"score"`
	Class         string             `json:"class"`
	Probabilities map[string]float64 `json:"probabilities"`
	Threshold     *float64           `json:"threshold"`
}

// NewDecoder returns a Decoder enforcing l as it is: start from
// DefaultLimits and call l.Validate first to reject bad configuration. now
// tells the current time for the event-time bounds; nil means time.Now.
func NewDecoder(l Limits, now func() time.Time) *Decoder {
	if now == nil {
		now = time.Now
	}
	return &Decoder{lim: l, now: now}
}

// Limits returns the limits the decoder enforces.
func (d *Decoder) Limits() Limits { return d.lim }

// inferenceWire is Event as it appears on the wire.
type inferenceWire struct {
	SchemaVersion string            `json:"schema_version"`
	PredictionID  string            `json:"prediction_id"`
	EventTime     wireTime          `json:"event_time"`
	Model         Model             `json:"model"`
	Operation     string            `json:"operation"`
	Principal     Principal         `json:"principal"`
	Features      wireFeatures      `json:"features"`
	Prediction    wirePrediction    `json:"prediction"`
	LatencyMS     *float64          `json:"latency_ms"`
	ErrorType     string            `json:"error.type"`
	LLM           *LLM              `json:"llm"`
	Attributes    map[string]string `json:"attributes"`
}

// Decode decodes one inference event from b into e and checks it against the
// limits. On bad input it returns a *RejectError and leaves e in an
// unspecified state. Unknown fields are ignored so producers can add fields
// ahead of the contract. A missing schema_version is set to "1". e refers
// to b afterwards (see Event).
func (d *Decoder) Decode(b []byte, e *Event) (err error) {
	if err := d.precheck(b); err != nil {
		return err
	}
	if took, err := d.decodeFast(b, e); took {
		return err
	}
	d.slow++
	return d.decodeSlow(b, e)
}

// decodeFast decodes b into e by the fast path, if it takes b.
func (d *Decoder) decodeFast(b []byte, e *Event) (took bool, err error) {
	if !d.fast.scan(b, e, d.lim.MaxFeatures) {
		return false, nil
	}
	err = d.check(e, nil, &d.fast.time, d.fast.namesKnown)
	switch {
	case err != nil:
	case d.fast.namesKnown:
		e.Features.NamesID = d.fast.known[d.fast.lastKnown].id
	default:
		e.Features.NamesID = d.fast.remember(&e.Features)
	}
	return true, err
}

// Pin reads the clock once for the events decoded until Unpin: the
// timestamps of a run of messages read together are judged against the time
// they were read, without reading the clock per event. Pin again after
// anything that may block: a pinned time that falls behind would judge
// events against the past.
func (d *Decoder) Pin() { d.pinnedNow, d.pinned = d.now(), true }

// Unpin makes every Decode read the clock again.
func (d *Decoder) Unpin() { d.pinned = false }

// SlowPath returns the number of inference and feedback events decoded by
// the slow path (labels have no fast path and are not counted).
func (d *Decoder) SlowPath() uint64 { return d.slow }

// decodeSlow decodes b into e with the JSON library.
func (d *Decoder) decodeSlow(b []byte, e *Event) (err error) {
	defer recoverReject(&err)
	m := d.maps.reset()
	w := &d.w
	*w = inferenceWire{
		Features:   wireFeatures{Numeric: m.num, Categorical: m.cat},
		Prediction: wirePrediction{Probabilities: m.prob},
		Attributes: m.attr,
	}
	if err := json.Unmarshal(b, w); err != nil {
		return classify(b, err)
	}
	*e = Event{
		SchemaVersion: w.SchemaVersion,
		PredictionID:  w.PredictionID,
		EventTime:     w.EventTime.t,
		Model:         w.Model,
		Operation:     w.Operation,
		Principal:     w.Principal,
		Features:      w.Features.slices(e.Features),
		Prediction: Prediction{Score: w.Prediction.Score, Class: w.Prediction.Class, Threshold: w.Prediction.Threshold,
			Probabilities: probabilities(w.Prediction.Probabilities, e.Prediction.Probabilities[:0])},
		LatencyMS:  w.LatencyMS,
		ErrorType:  w.ErrorType,
		LLM:        w.LLM,
		Attributes: attributes(w.Attributes, e.Attributes[:0]),
	}
	return d.check(e, w.Features.Numeric, &w.EventTime, false)
}

// check applies the contract's checks to a decoded event. numeric holds
// the numeric features by name when the slow path decoded e (a categorical
// feature of the same name is refused); the fast path never yields one.
// namesKnown skips the checks of feature names (see checkFeatures).
func (d *Decoder) check(e *Event, numeric map[string]float64, t *wireTime, namesKnown bool) error {
	if rj := d.checkEvent(e, numeric, t, namesKnown); rj != nil {
		return rj
	}
	return nil
}

// reset clears the maps, making them on first use, and returns m.
func (m *wireMaps) reset() *wireMaps {
	if m.num == nil {
		m.num, m.prob = make(map[string]float64), make(map[string]float64)
		m.cat, m.attr = make(map[string]string), make(map[string]string)
	}
	clear(m.num)
	clear(m.cat)
	clear(m.prob)
	clear(m.attr)
	return m
}

// slices returns w's features as slices sorted by name, reusing f's.
func (w *wireFeatures) slices(f Features) Features {
	f.Numeric, f.Categorical = f.Numeric[:0], f.Categorical[:0]
	for k, v := range w.Numeric {
		f.Numeric = append(f.Numeric, Number{Name: k, Value: v})
	}
	for k, v := range w.Categorical {
		f.Categorical = append(f.Categorical, Category{Name: k, Value: v})
	}
	slices.SortFunc(f.Numeric, func(a, b Number) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(f.Categorical, func(a, b Category) int { return strings.Compare(a.Name, b.Name) })
	return f
}

// probabilities appends m's entries to dst, sorted by class.
func probabilities(m map[string]float64, dst Probabilities) Probabilities {
	for k, v := range m {
		dst = append(dst, ClassProbability{Class: k, P: v})
	}
	slices.SortFunc(dst, func(a, b ClassProbability) int { return strings.Compare(a.Class, b.Class) })
	return dst
}

// attributes appends m's entries to dst, sorted by key.
func attributes(m map[string]string, dst Attributes) Attributes {
	for k, v := range m {
		dst = append(dst, Attribute{Key: k, Value: v})
	}
	slices.SortFunc(dst, func(a, b Attribute) int { return strings.Compare(a.Key, b.Key) })
	return dst
}

// precheck refuses bodies over MaxBytes and bodies that are not a JSON object.
func (d *Decoder) precheck(b []byte) error {
	if len(b) > d.lim.MaxBytes {
		return reject(ReasonTooLarge, fmt.Sprintf("body: %d bytes, limit %d", len(b), d.lim.MaxBytes))
	}
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return nil
		}
		break
	}
	return reject(ReasonInvalidJSON, "body: not a JSON object")
}

// recoverReject turns a panic inside the JSON library into a rejection, so one
// poisonous message cannot stop a consumer.
func recoverReject(err *error) {
	if r := recover(); r != nil {
		*err = reject(ReasonInvalidJSON, fmt.Sprintf("body: decoder failed: %v", r))
	}
}

// mapFields are the JSON paths of maps whose keys the library appends to the path.
var mapFields = []string{"features.numeric.", "features.categorical.", "prediction.probabilities.", "attributes."}

// classify turns an error of the JSON library into a *RejectError naming the field.
func classify(b []byte, err error) *RejectError {
	if !stdjson.Valid(b) {
		return reject(ReasonInvalidJSON, "body: "+truncate(err.Error(), 200))
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		for _, p := range mapFields {
			if strings.HasPrefix(field, p) {
				field = mapPath(p[:len(p)-1], field[len(p):])
				break
			}
		}
		if field == "" {
			field = "body"
		}
		got := truncate(te.Value, 64)
		want := jsonType(te.Type)
		if want == "number" {
			return reject(ReasonInvalidValue, field+": not a finite number (got "+got+")")
		}
		return reject(ReasonInvalidValue, field+": expected "+want+", got "+got)
	}
	return reject(ReasonInvalidValue, "body: "+truncate(err.Error(), 200))
}

// jsonType names the JSON type a Go type is decoded from.
func jsonType(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "non-negative integer"
	case reflect.Bool:
		return "boolean"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return t.Kind().String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// checkEvent applies the contract's rules that JSON typing cannot express.
func (d *Decoder) checkEvent(e *Event, numeric map[string]float64, t *wireTime, namesKnown bool) *RejectError {
	if rj := checkSchemaVersion(&e.SchemaVersion); rj != nil {
		return rj
	}
	if e.PredictionID == "" {
		return reject(ReasonMissingField, "prediction_id: required")
	}
	if rj := d.checkTime("event_time", t); rj != nil {
		return rj
	}
	if e.Model.ID == "" {
		return reject(ReasonMissingField, "model.id: required")
	}
	vmax := d.lim.MaxValueLength
	// The fields are named only when one is too long.
	if max(len(e.PredictionID), len(e.Model.ID), len(e.Model.Version), len(e.Operation), len(e.Principal.EndUserID),
		len(e.Principal.Service), len(e.Principal.Tenant), len(e.Principal.ClientAddress), len(e.Prediction.Class),
		len(e.ErrorType)) > vmax {
		if rj := d.checkLengths(e); rj != nil {
			return rj
		}
	}
	// The fields are named only when one breaks the policy.
	pr := &e.Principal
	if !(ValidIdentifier(e.PredictionID) && ValidIdentifier(e.Model.ID) && ValidIdentifier(e.Model.Version) &&
		ValidIdentifier(e.Operation) && ValidIdentifier(pr.EndUserID) && ValidIdentifier(pr.Service) && ValidIdentifier(pr.Tenant)) {
		if rj := checkIdentifiers("prediction_id", e.PredictionID, "model.id", e.Model.ID, "model.version", e.Model.Version,
			"operation", e.Operation, "principal.enduser.id", pr.EndUserID, "principal.service", pr.Service,
			"principal.tenant", pr.Tenant); rj != nil {
			return rj
		}
	}
	if !(ValidValue(pr.ClientAddress) && ValidValue(e.Prediction.Class) && ValidValue(e.ErrorType)) {
		if rj := checkValues("principal.client.address", pr.ClientAddress, "prediction.class", e.Prediction.Class,
			"error.type", e.ErrorType); rj != nil {
			return rj
		}
	}
	if rj := d.checkFeatures(&e.Features, numeric, namesKnown); rj != nil {
		return rj
	}
	p := &e.Prediction
	if p.Score != nil && !finite(*p.Score) {
		return notFinite("prediction.score")
	}
	if p.Threshold != nil && !finite(*p.Threshold) {
		return notFinite("prediction.threshold")
	}
	if len(p.Probabilities) > d.lim.MaxFeatures {
		return reject(ReasonTooManyFeatures, fmt.Sprintf("prediction.probabilities: %d classes, limit %d", len(p.Probabilities), d.lim.MaxFeatures))
	}
	var worst *RejectError
	worstKey := ""
	for _, kv := range p.Probabilities {
		k, v := kv.Class, kv.P
		var rj *RejectError
		switch {
		case len(k) > vmax:
			rj = tooLong(mapPath("prediction.probabilities", k), len(k), vmax)
		case !ValidValue(k):
			rj = checkValue(mapPath("prediction.probabilities", k), k)
		case !finite(v) || v < 0 || v > 1:
			rj = reject(ReasonInvalidValue, mapPath("prediction.probabilities", k)+": not a probability in [0, 1]")
		}
		if rj != nil && (worst == nil || k < worstKey) {
			worst, worstKey = rj, k
		}
	}
	if worst != nil {
		return worst
	}
	if e.LatencyMS != nil && (!finite(*e.LatencyMS) || *e.LatencyMS < 0) {
		return reject(ReasonInvalidValue, "latency_ms: not a finite non-negative number")
	}
	if e.LLM != nil {
		if rj := d.checkLLM(e.LLM); rj != nil {
			return rj
		}
	}
	if len(e.Attributes) > d.lim.MaxFeatures {
		return reject(ReasonTooManyFeatures, fmt.Sprintf("attributes: %d entries, limit %d", len(e.Attributes), d.lim.MaxFeatures))
	}
	for _, kv := range e.Attributes {
		k, v := kv.Key, kv.Value
		var rj *RejectError
		switch {
		case k == "":
			rj = reject(ReasonInvalidValue, `attributes[""]: empty key`)
		case len(k) > d.lim.MaxNameLength:
			rj = tooLong(mapPath("attributes", k), len(k), d.lim.MaxNameLength)
		case !ValidIdentifier(k):
			rj = checkIdentifier(mapPath("attributes", k), k)
		case len(v) > vmax:
			rj = tooLong(mapPath("attributes", k), len(v), vmax)
		case !ValidValue(v):
			rj = checkValue(mapPath("attributes", k), v)
		}
		if rj != nil && (worst == nil || k < worstKey) {
			worst, worstKey = rj, k
		}
	}
	if worst != nil {
		return worst
	}
	return nil
}

// checkLengths names the first string field of e longer than
// Limits.MaxValueLength.
func (d *Decoder) checkLengths(e *Event) *RejectError {
	vmax := d.lim.MaxValueLength
	for _, f := range [...]struct {
		name, v string
	}{
		{"prediction_id", e.PredictionID},
		{"model.id", e.Model.ID},
		{"model.version", e.Model.Version},
		{"operation", e.Operation},
		{"principal.enduser.id", e.Principal.EndUserID},
		{"principal.service", e.Principal.Service},
		{"principal.tenant", e.Principal.Tenant},
		{"principal.client.address", e.Principal.ClientAddress},
		{"prediction.class", e.Prediction.Class},
		{"error.type", e.ErrorType},
	} {
		if len(f.v) > vmax {
			return tooLong(f.name, len(f.v), vmax)
		}
	}
	return nil
}

// checkFeatures checks feature counts, names and values. When several features
// are bad it reports the one with the smallest name, so details are stable.
// numeric, when not nil, holds the numeric features by name, to refuse a
// categorical feature of the same name. namesKnown says that the names are
// those of an event already accepted, in the same kinds: only values are
// checked.
func (d *Decoder) checkFeatures(f *Features, numeric map[string]float64, namesKnown bool) *RejectError {
	if n := len(f.Numeric) + len(f.Categorical); n > d.lim.MaxFeatures {
		return reject(ReasonTooManyFeatures, fmt.Sprintf("features: %d features, limit %d", n, d.lim.MaxFeatures))
	}
	var worst *RejectError
	worstKey := ""
	keep := func(k string, rj *RejectError) {
		if rj != nil && (worst == nil || k < worstKey) {
			worst, worstKey = rj, k
		}
	}
	for _, kv := range f.Numeric {
		k, v := kv.Name, kv.Value
		const path = "features.numeric"
		if !namesKnown {
			if rj := d.checkFeatureName(path, k); rj != nil {
				keep(k, rj)
				continue
			}
		}
		if !finite(v) {
			keep(k, notFinite(mapPath(path, k)))
		}
	}
	for _, kv := range f.Categorical {
		k, v := kv.Name, kv.Value
		const path = "features.categorical"
		if !namesKnown {
			if rj := d.checkFeatureName(path, k); rj != nil {
				keep(k, rj)
				continue
			}
		}
		switch {
		case len(v) > d.lim.MaxValueLength:
			keep(k, tooLong(mapPath(path, k), len(v), d.lim.MaxValueLength))
		case !ValidValue(v):
			keep(k, checkValue(mapPath(path, k), v))
		case numeric != nil:
			// Only the slow path has the map (the fast path refuses a
			// name of both kinds itself); a lookup in nil is still a call.
			if _, dup := numeric[k]; dup {
				keep(k, reject(ReasonInvalidValue, mapPath(path, k)+": also a numeric feature"))
			}
		}
	}
	return worst
}

// checkFeatureName checks the name k of a feature under path.
func (d *Decoder) checkFeatureName(path, k string) *RejectError {
	switch {
	case k == "":
		return reject(ReasonInvalidValue, path+`[""]: empty feature name`)
	case len(k) > d.lim.MaxNameLength:
		return tooLong(mapPath(path, k), len(k), d.lim.MaxNameLength)
	case k == ScoreFeature || k == ClassFeature || k == AllNumericFeature:
		return reject(ReasonInvalidValue, mapPath(path, k)+": reserved feature name")
	case !ValidIdentifier(k):
		return checkIdentifier(mapPath(path, k), k)
	}
	return nil
}

func (d *Decoder) checkLLM(l *LLM) *RejectError {
	for _, f := range [...]struct {
		name string
		v    *int64
	}{
		{"llm.gen_ai.usage.input_tokens", l.InputTokens},
		{"llm.gen_ai.usage.output_tokens", l.OutputTokens},
		{"llm.gen_ai.usage.cache_read.input_tokens", l.CacheReadInputTokens},
		{"llm.gen_ai.usage.reasoning.output_tokens", l.ReasoningTokens},
	} {
		if f.v != nil && *f.v < 0 {
			return reject(ReasonInvalidValue, f.name+": negative token count")
		}
	}
	if l.TimeToFirstChunk != nil && (!finite(*l.TimeToFirstChunk) || *l.TimeToFirstChunk < 0) {
		return reject(ReasonInvalidValue, "llm.gen_ai.response.time_to_first_chunk: not a finite non-negative number")
	}
	if len(l.FinishReasons) > d.lim.MaxFeatures {
		return reject(ReasonTooManyFeatures, fmt.Sprintf("llm.gen_ai.response.finish_reasons: %d entries, limit %d", len(l.FinishReasons), d.lim.MaxFeatures))
	}
	for i, r := range l.FinishReasons {
		if len(r) > d.lim.MaxValueLength {
			return tooLong(fmt.Sprintf("llm.gen_ai.response.finish_reasons[%d]", i), len(r), d.lim.MaxValueLength)
		}
		if !ValidValue(r) { // the field is named only for a rejection
			return checkValue(fmt.Sprintf("llm.gen_ai.response.finish_reasons[%d]", i), r)
		}
	}
	return nil
}

// checkTime checks a decoded wire time against presence and the age bounds.
func (d *Decoder) checkTime(field string, w *wireTime) *RejectError {
	if !w.set {
		return reject(ReasonMissingField, field+": required")
	}
	if w.err != "" {
		return reject(ReasonBadTimestamp, field+": "+w.err)
	}
	now := d.pinnedNow
	if !d.pinned {
		now = d.now()
	}
	if w.t.After(now.Add(d.lim.MaxFuture)) {
		return reject(ReasonBadTimestamp, fmt.Sprintf("%s: %s is more than %s ahead of now", field, w.t.Format(time.RFC3339Nano), d.lim.MaxFuture))
	}
	if w.t.Before(now.Add(-d.lim.MaxAge)) {
		return reject(ReasonBadTimestamp, fmt.Sprintf("%s: %s is more than %s old", field, w.t.Format(time.RFC3339Nano), d.lim.MaxAge))
	}
	return nil
}

// checkSchemaVersion defaults an absent version to "1" and refuses others.
func checkSchemaVersion(v *string) *RejectError {
	switch *v {
	case "":
		*v = "1"
	case "1":
	default:
		return reject(ReasonInvalidValue, "schema_version: unsupported version "+strconv.Quote(truncate(*v, 32))+`, want "1"`)
	}
	return nil
}

// checkLens checks string fields against a length limit, in order.
func checkLens(max int, fields ...string) *RejectError {
	for i := 0; i+1 < len(fields); i += 2 {
		if len(fields[i+1]) > max {
			return tooLong(fields[i], len(fields[i+1]), max)
		}
	}
	return nil
}

// finite reports whether v is neither NaN nor infinite: whether its
// exponent is not all ones. One mask and compare where math.IsNaN and
// math.IsInf are several floating-point comparisons; it runs for every
// numeric feature of every event.
func finite(v float64) bool {
	const exp = 0x7ff << 52
	return math.Float64bits(v)&exp != exp
}

func mapPath(path, key string) string {
	return path + "[" + strconv.Quote(truncate(key, 64)) + "]"
}

func notFinite(field string) *RejectError {
	return reject(ReasonInvalidValue, field+": not a finite number")
}

func tooLong(field string, n, max int) *RejectError {
	return reject(ReasonTooLong, fmt.Sprintf("%s: %d bytes, limit %d", field, n, max))
}

package telemetry

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"
)

// fastScanner is the decoder's fast path: one pass over an inference
// event's bytes straight into an Event's reused slices, with no allocation
// (scan; scanFeedback does the same for a feedback event and a Feedback).
// Its strings share the bytes it scans (unsafe.String), and the pointer
// fields point into the Event's own storage.
//
// It takes only what it can decode exactly as the JSON library would, and
// says no (false) to everything else, which then takes the slow path: a
// string with an escape or invalid UTF-8, a duplicate key, a null inside a
// map or a list, a key that matches a field only without regard to case, a
// value of a type the field does not take, a number out of float64 range,
// nesting deeper than maxSkipDepth in an unknown field, more entries than
// the limits allow, and anything that is not JSON. It checks nothing of
// the contract: Decoder.check does that for both paths.
type fastScanner struct {
	b       []byte
	i       int
	time    wireTime
	maxEnts int
	names   nameSet
	// known are the feature names of the last maxKnownNames distinct
	// name lists accepted (one per model schema that shares the
	// partition); namesKnown says the event scanned has exactly the names
	// of one of them, in that order: they are distinct and valid, without
	// hashing or checking them again (producers write the same names in
	// the same order).
	known      [maxKnownNames]knownNames
	nKnown     int // lists in use
	lastKnown  int // the list the last known event had
	nextKnown  int // the list the next new one replaces, once all are in use
	namesKnown bool
	// guess is the remembered list whose names the event scanned most
	// likely has: the last known event's, until the event's first feature
	// name says which (see nameKey). guessed says its keys were the
	// list's so far, each at the same place.
	guess   int
	guessed bool
}

// maxKnownNames bounds the feature name lists a decoder remembers: the
// schemas of the models that share one partition. Memory: at most
// maxKnownNames × Limits.MaxFeatures names of at most Limits.MaxNameLength
// bytes. Events of more schemas than that still decode; their names are
// checked again, and the oldest list is replaced by theirs.
const maxKnownNames = 16

// knownNames is one remembered list of feature names, numeric ones first
// (num of them); the strings are copies, never the message's bytes.
type knownNames struct {
	names []string
	num   int
	id    uint64 // the events' Features.NamesID
}

// namesIDs numbers the remembered lists of every decoder (Features.NamesID).
var namesIDs atomic.Uint64

// maxSkipDepth bounds the nesting the fast path skips in unknown fields.
const maxSkipDepth = 32

// Bits of the keys seen in one object, to refuse duplicates.
const (
	kSchema = 1 << iota
	kPredictionID
	kEventTime
	kModel
	kOperation
	kPrincipal
	kFeatures
	kPrediction
	kLatency
	kError
	kLLM
	kAttributes
)

// Known keys per object, for refusing keys that match only regardless of
// case (the JSON library would take them).
var (
	eventKeys      = []string{"schema_version", "prediction_id", "event_time", "model", "operation", "principal", "features", "prediction", "latency_ms", "error.type", "llm", "attributes"}
	modelKeys      = []string{"id", "version"}
	principalKeys  = []string{"enduser.id", "service", "tenant", "client.address"}
	featuresKeys   = []string{"numeric", "categorical"}
	predictionKeys = []string{"score", "class", "probabilities", "threshold"}
	llmKeys        = []string{"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
		"gen_ai.usage.reasoning.output_tokens", "gen_ai.response.finish_reasons", "gen_ai.response.time_to_first_chunk", "refusal"}
)

// scan decodes b into e; false sends b to the slow path, leaving e in an
// unspecified state.
func (s *fastScanner) scan(b []byte, e *Event, maxEntries int) bool {
	s.b, s.i, s.time, s.maxEnts, s.namesKnown = b, 0, wireTime{}, maxEntries, false
	fin := e.own.llm.FinishReasons[:0]
	*e = Event{
		Features:   Features{Numeric: e.Features.Numeric[:0], Categorical: e.Features.Categorical[:0]},
		Prediction: Prediction{Probabilities: e.Prediction.Probabilities[:0]},
		Attributes: e.Attributes[:0],
	}
	e.own.llm.FinishReasons = fin
	s.ws()
	if !s.object(func(key []byte) (uint32, bool) { return s.eventField(key, e) }) {
		return false
	}
	s.ws()
	e.EventTime = s.time.t
	return s.i == len(s.b)
}

// eventField decodes the value of top-level key into e, returning the key's
// bit (0 for an unknown key).
func (s *fastScanner) eventField(key []byte, e *Event) (uint32, bool) {
	switch string(key) {
	case "schema_version":
		return kSchema, s.stringInto(&e.SchemaVersion)
	case "prediction_id":
		return kPredictionID, s.stringInto(&e.PredictionID)
	case "event_time":
		return kEventTime, s.eventTime()
	case "model":
		return kModel, s.model(&e.Model)
	case "operation":
		return kOperation, s.stringInto(&e.Operation)
	case "principal":
		return kPrincipal, s.principal(&e.Principal)
	case "features":
		return kFeatures, s.features(&e.Features)
	case "prediction":
		return kPrediction, s.prediction(e)
	case "latency_ms":
		return kLatency, s.floatPtr(&e.LatencyMS, &e.own.latency)
	case "error.type":
		return kError, s.stringInto(&e.ErrorType)
	case "llm":
		return kLLM, s.llm(e)
	case "attributes":
		return kAttributes, s.attributes(e)
	}
	return 0, s.unknown(key, eventKeys)
}

func (s *fastScanner) model(m *Model) bool {
	return s.stringFields(modelKeys, &[4]*string{&m.ID, &m.Version})
}

func (s *fastScanner) principal(p *Principal) bool {
	return s.stringFields(principalKeys, &[...]*string{&p.EndUserID, &p.Service, &p.Tenant, &p.ClientAddress})
}

// stringFields reads an object (or null) of string fields: keys[i] into
// *dst[i]; at most 4 keys.
func (s *fastScanner) stringFields(keys []string, dst *[4]*string) bool {
	if s.null() {
		return true
	}
	return s.object(func(key []byte) (uint32, bool) {
		for i, k := range keys {
			if string(key) == k {
				return 1 << i, s.stringInto(dst[i])
			}
		}
		return 0, s.unknown(key, keys)
	})
}

// features reads the features object (or null) into f's slices, names
// distinct across both kinds.
func (s *fastScanner) features(f *Features) bool {
	if s.null() {
		return true
	}
	s.guess, s.guessed = s.lastKnown, s.nKnown > 0
	ok := s.object(func(key []byte) (uint32, bool) {
		switch string(key) {
		case "numeric":
			return 1, s.numeric(f)
		case "categorical":
			return 2, s.categorical(f)
		}
		return 0, s.unknown(key, featuresKeys)
	})
	if !ok {
		return false
	}
	// All keys as guessed, and as many: the names of a remembered list,
	// which sameNames would find, without comparing them again.
	if k := &s.known[s.guess]; s.guessed && len(f.Numeric) == k.num && len(f.Numeric)+len(f.Categorical) == len(k.names) {
		s.namesKnown, s.lastKnown = true, s.guess
		return true
	}
	if s.namesKnown = s.sameNames(f); s.namesKnown {
		return true
	}
	// Names are distinct across both kinds: the slow path keeps the last
	// of two equal names, or refuses a name of both kinds.
	s.names.reset(len(f.Numeric) + len(f.Categorical))
	for _, n := range f.Numeric {
		if !s.names.add(n.Name) {
			return false
		}
	}
	for _, c := range f.Categorical {
		if !s.names.add(c.Name) {
			return false
		}
	}
	return true
}

// numeric reads the numeric features (an object or null) into f, the
// names by nameKey.
func (s *fastScanner) numeric(f *Features) bool {
	if s.null() {
		return true
	}
	more, ok := s.objectStart()
	for ok && more {
		name, kok := s.nameKey(f, true)
		if !kok {
			return false
		}
		v, vok := s.float()
		if !vok || len(f.Numeric)+len(f.Categorical) >= s.maxEnts {
			return false
		}
		f.Numeric = append(f.Numeric, Number{Name: alias(name), Value: v})
		more, ok = s.objectNext()
	}
	return ok
}

// categorical reads the categorical features (an object or null) into f.
func (s *fastScanner) categorical(f *Features) bool {
	if s.null() {
		return true
	}
	more, ok := s.objectStart()
	for ok && more {
		name, kok := s.nameKey(f, false)
		if !kok {
			return false
		}
		v, vok := s.str()
		if !vok || len(f.Numeric)+len(f.Categorical) >= s.maxEnts {
			return false
		}
		f.Categorical = append(f.Categorical, Category{Name: alias(name), Value: alias(v)})
		more, ok = s.objectNext()
	}
	return ok
}

// nameKey reads the key (and colon) of the next numeric (num) or
// categorical feature of f. While the names are those of the guess, each
// at its place, a key is read by comparing it with the guess's name,
// rather than scanned and compared later (sameNames): a remembered name is
// plain (an identifier: no quote, backslash, control or non-ASCII byte),
// so the message's bytes `"` name `"` are the string name and nothing
// else. The first name of an event picks the guess among the remembered
// lists (models sharing a partition seldom share a first feature name);
// the first name that is not the guess's ends it, and that key and the
// next are read by key.
func (s *fastScanner) nameKey(f *Features, num bool) ([]byte, bool) {
	if s.guessed {
		s.ws()
		if name, ok := s.guessedName(s.guess, f, num); ok {
			return name, s.tightColon() || s.spacedColon()
		}
		if len(f.Numeric)+len(f.Categorical) == 0 {
			for l := range s.nKnown {
				if l == s.guess {
					continue
				}
				if name, ok := s.guessedName(l, f, num); ok {
					s.guess = l
					return name, s.tightColon() || s.spacedColon()
				}
			}
		}
		s.guessed = false
	}
	return s.key()
}

// guessedName reads the key at the cursor if it is the name list l has at
// the place of f's next numeric (num) or categorical feature.
func (s *fastScanner) guessedName(l int, f *Features, num bool) ([]byte, bool) {
	k := &s.known[l]
	j := k.num + len(f.Categorical)
	if num {
		j = len(f.Numeric)
		if j >= k.num {
			return nil, false
		}
	} else if j >= len(k.names) {
		return nil, false
	}
	b, i, want := s.b, s.i, k.names[j]
	if end := i + 1 + len(want); end < len(b) && b[i] == '"' && b[end] == '"' && string(b[i+1:end]) == want {
		s.i = end + 1
		return b[i+1 : end], true
	}
	return nil, false
}

// sameNames reports whether f's names are those of a remembered list, in
// the same order. It looks at the list of the last known event first.
func (s *fastScanner) sameNames(f *Features) bool {
	if s.nKnown == 0 {
		return false
	}
	if s.known[s.lastKnown].is(f) {
		return true
	}
	for i := range s.nKnown {
		if i != s.lastKnown && s.known[i].is(f) {
			s.lastKnown = i
			return true
		}
	}
	return false
}

// is reports whether f's names are k's, in the same order.
func (k *knownNames) is(f *Features) bool {
	if len(f.Numeric) != k.num || len(f.Numeric)+len(f.Categorical) != len(k.names) {
		return false
	}
	for i, n := range f.Numeric {
		if n.Name != k.names[i] {
			return false
		}
	}
	for i, c := range f.Categorical {
		if c.Name != k.names[k.num+i] {
			return false
		}
	}
	return true
}

// remember keeps copies of the names of f, an event just accepted whose
// names were checked: in a free list, else in place of the list remembered
// the longest ago. An event without features has no names to remember:
// it would only push a schema out (feedback events often have none).
func (s *fastScanner) remember(f *Features) uint64 {
	if len(f.Numeric)+len(f.Categorical) == 0 {
		return 0
	}
	i := s.nKnown
	if i < maxKnownNames {
		s.nKnown++
	} else {
		i = s.nextKnown
		s.nextKnown = (s.nextKnown + 1) % maxKnownNames
	}
	k := &s.known[i]
	k.names = k.names[:0]
	for _, n := range f.Numeric {
		k.names = append(k.names, strings.Clone(n.Name))
	}
	for _, c := range f.Categorical {
		k.names = append(k.names, strings.Clone(c.Name))
	}
	k.num = len(f.Numeric)
	k.id = namesIDs.Add(1)
	s.lastKnown = i
	return k.id
}

// prediction reads the prediction object (or null) into e, classes of the
// probabilities distinct.
func (s *fastScanner) prediction(e *Event) bool {
	if s.null() {
		return true
	}
	p := &e.Prediction
	return s.object(func(key []byte) (uint32, bool) {
		switch string(key) {
		case "score":
			return 1, s.floatPtr(&p.Score, &e.own.score)
		case "class":
			return 2, s.stringInto(&p.Class)
		case "probabilities":
			if s.null() {
				return 4, true
			}
			ok := s.object(func(class []byte) (uint32, bool) {
				v, ok := s.float()
				if !ok || len(p.Probabilities) >= s.maxEnts {
					return 0, false
				}
				p.Probabilities = append(p.Probabilities, ClassProbability{Class: alias(class), P: v})
				return 0, true
			})
			if !ok {
				return 4, false
			}
			return 4, s.distinctClasses(p.Probabilities)
		case "threshold":
			return 8, s.floatPtr(&p.Threshold, &e.own.threshold)
		}
		return 0, s.unknown(key, predictionKeys)
	})
}

// llm reads the GenAI usage object (or null) into e's own LLM.
func (s *fastScanner) llm(e *Event) bool {
	if s.null() {
		return true
	}
	o := &e.own
	o.llm = LLM{FinishReasons: o.llm.FinishReasons[:0]}
	l := &o.llm
	e.LLM = l
	fin := false
	ok := s.object(func(key []byte) (uint32, bool) {
		switch string(key) {
		case "gen_ai.usage.input_tokens":
			return 1, s.intPtr(&l.InputTokens, &o.tokens[0])
		case "gen_ai.usage.output_tokens":
			return 2, s.intPtr(&l.OutputTokens, &o.tokens[1])
		case "gen_ai.usage.cache_read.input_tokens":
			return 4, s.intPtr(&l.CacheReadInputTokens, &o.tokens[2])
		case "gen_ai.usage.reasoning.output_tokens":
			return 8, s.intPtr(&l.ReasoningTokens, &o.tokens[3])
		case "gen_ai.response.finish_reasons":
			if s.null() {
				return 16, true
			}
			fin = true
			return 16, s.array(func() bool {
				v, ok := s.str()
				if !ok || len(l.FinishReasons) >= s.maxEnts {
					return false
				}
				l.FinishReasons = append(l.FinishReasons, alias(v))
				return true
			})
		case "gen_ai.response.time_to_first_chunk":
			return 32, s.floatPtr(&l.TimeToFirstChunk, &o.ttfc)
		case "refusal":
			if s.null() {
				return 64, true
			}
			v, ok := s.boolean()
			l.Refusal = v
			return 64, ok
		}
		return 0, s.unknown(key, llmKeys)
	})
	if !fin {
		// The slow path leaves an absent list nil, an empty one empty.
		l.FinishReasons = nil
	} else if l.FinishReasons == nil {
		l.FinishReasons = []string{}
	}
	return ok
}

// attributes reads the attributes object (or null) into e, keys distinct.
func (s *fastScanner) attributes(e *Event) bool {
	if s.null() {
		return true
	}
	ok := s.object(func(key []byte) (uint32, bool) {
		v, ok := s.str()
		if !ok || len(e.Attributes) >= s.maxEnts {
			return 0, false
		}
		e.Attributes = append(e.Attributes, Attribute{Key: alias(key), Value: alias(v)})
		return 0, true
	})
	if !ok {
		return false
	}
	return s.distinctKeys(e.Attributes)
}

// fewNames is the longest list distinctClasses and distinctKeys compare
// pair by pair: up to it, that costs less than hashing every name (events
// have a few classes and attributes).
const fewNames = 8

// distinctClasses reports whether the classes of p are distinct: pair by
// pair for a few, else by set.
func (s *fastScanner) distinctClasses(p Probabilities) bool {
	if len(p) <= fewNames {
		for i := 1; i < len(p); i++ {
			for j := range i {
				if p[i].Class == p[j].Class {
					return false
				}
			}
		}
		return true
	}
	s.names.reset(len(p))
	for _, c := range p {
		if !s.names.add(c.Class) {
			return false
		}
	}
	return true
}

// distinctKeys reports whether the keys of a are distinct, as
// distinctClasses. (The two are not one generic function with a func for
// the name: that measured slower.)
func (s *fastScanner) distinctKeys(a Attributes) bool {
	if len(a) <= fewNames {
		for i := 1; i < len(a); i++ {
			for j := range i {
				if a[i].Key == a[j].Key {
					return false
				}
			}
		}
		return true
	}
	s.names.reset(len(a))
	for _, kv := range a {
		if !s.names.add(kv.Key) {
			return false
		}
	}
	return true
}

// eventTime reads event_time: an RFC 3339 string, a number or null.
func (s *fastScanner) eventTime() bool {
	if s.null() {
		return true
	}
	if s.i < len(s.b) && s.b[s.i] == '"' {
		start := s.i
		if _, ok := s.str(); !ok {
			return false
		}
		s.time.parse(s.b[start:s.i])
		return true
	}
	tok, ok := s.number()
	if !ok {
		return false
	}
	s.time.parse(tok)
	return true
}

// object reads an object, calling field for each key with the cursor at its
// value; field returns the key's bit in the object (0: none, for map
// entries and unknown keys) and whether its value was read. A bit seen
// twice is a duplicate key.
func (s *fastScanner) object(field func(key []byte) (uint32, bool)) bool {
	more, ok := s.objectStart()
	var seen uint32
	for ok && more {
		key, kok := s.key()
		if !kok {
			return false
		}
		bit, vok := field(key)
		if !vok || seen&bit != 0 {
			return false
		}
		seen |= bit
		more, ok = s.objectNext()
	}
	return ok
}

// objectStart reads the opening brace of an object and reports whether a
// member follows (more) or the object is empty and read.
func (s *fastScanner) objectStart() (more, ok bool) {
	if !s.consume('{') {
		return false, false
	}
	s.ws()
	if s.consume('}') {
		return false, true
	}
	return true, true
}

// key reads a member's key and the colon after it, leaving the cursor at
// the member's value.
func (s *fastScanner) key() ([]byte, bool) {
	s.ws()
	key, ok := s.str()
	return key, ok && (s.tightColon() || s.spacedColon())
}

// tightColon and spacedColon read the colon after a member's key, leaving
// the cursor at the member's value; callers write s.tightColon() ||
// s.spacedColon(), the common case inlined, the rest a call. tightColon
// takes a colon right after the key and right before the value (no byte
// above the space is whitespace).
func (s *fastScanner) tightColon() bool {
	if i := s.i; i+1 < len(s.b) && s.b[i] == ':' && s.b[i+1] > ' ' {
		s.i = i + 1
		return true
	}
	return false
}

// spacedColon takes whitespace around the colon.
func (s *fastScanner) spacedColon() bool {
	s.ws()
	if !s.consume(':') {
		return false
	}
	s.ws()
	return true
}

// objectNext reads what follows a member's value: a comma, another member
// following (more), or the object's closing brace.
func (s *fastScanner) objectNext() (more, ok bool) {
	s.ws()
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case ',':
			s.i++
			return true, true
		case '}':
			s.i++
			return false, true
		}
	}
	return false, false
}

// array reads an array, calling elem with the cursor at each element.
func (s *fastScanner) array(elem func() bool) bool {
	if !s.consume('[') {
		return false
	}
	s.ws()
	if s.consume(']') {
		return true
	}
	for {
		s.ws()
		if !elem() {
			return false
		}
		s.ws()
		if s.consume(',') {
			continue
		}
		return s.consume(']')
	}
}

// unknown skips the value of an unknown key, refusing a key that equals a
// known one regardless of case (or that is not ASCII, whose case folding
// the fast path does not judge).
func (s *fastScanner) unknown(key []byte, known []string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	for _, k := range known {
		if asciiEqualFold(key, k) {
			return false
		}
	}
	return s.skip(0)
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// skip reads any JSON value.
func (s *fastScanner) skip(depth int) bool {
	if depth > maxSkipDepth || s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{':
		return s.object(func([]byte) (uint32, bool) { return 0, s.skip(depth + 1) })
	case c == '[':
		return s.array(func() bool { return s.skip(depth + 1) })
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		_, ok := s.number()
		return ok
	}
}

// stringInto reads a string (or null, which leaves *dst as it is).
func (s *fastScanner) stringInto(dst *string) bool {
	if s.null() {
		return true
	}
	v, ok := s.str()
	*dst = alias(v)
	return ok
}

// floatPtr reads a number into *own and points *dst to it; null sets nil.
func (s *fastScanner) floatPtr(dst **float64, own *float64) bool {
	if s.null() {
		*dst = nil
		return true
	}
	v, ok := s.float()
	*own = v
	*dst = own
	return ok
}

// intPtr reads an integer into *own and points *dst to it; null sets nil.
func (s *fastScanner) intPtr(dst **int64, own *int64) bool {
	if s.null() {
		*dst = nil
		return true
	}
	tok, ok := s.number()
	if !ok {
		return false
	}
	for _, c := range tok {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	v, err := strconv.ParseInt(alias(tok), 10, 64)
	*own = v
	*dst = own
	return err == nil
}

// float reads a number that float64 holds (not out of range). Numbers of
// at most 19 digits whose mantissa float64 holds exactly and whose power
// of ten is within ±22 are computed with one exact multiplication or
// division, correctly rounded (Clinger's fast path, as strconv's own);
// others go to strconv.ParseFloat. The digits are read in two tight loops
// (integer part, fraction) whose lengths give the count of digits; mant
// may wrap past 19 digits, but such a number takes strconv then.
func (s *fastScanner) float() (float64, bool) {
	b, i := s.b, s.i
	start := i
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	var mant uint64
	first := i // the first digit that counts: a lone leading zero does not
	switch {
	case i < len(b) && b[i] == '0':
		i++
		first = i
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
			mant = mant*10 + uint64(b[i]-'0')
		}
	default:
		return 0, false
	}
	digits, exp := i-first, 0
	if i < len(b) && b[i] == '.' {
		i++
		f := i
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
			mant = mant*10 + uint64(b[i]-'0')
		}
		if i == f {
			return 0, false
		}
		digits += i - f
		exp = f - i
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		d, e := i, 0
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			if e < 10000 {
				e = e*10 + int(b[i]-'0')
			}
		}
		if i == d {
			return 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	s.i = i
	if digits <= 19 && mant <= 1<<53 && exp >= -22 && exp <= 22 {
		f := float64(mant)
		if exp < 0 {
			f /= pow10[-exp]
		} else {
			f *= pow10[exp]
		}
		if neg {
			f = -f
		}
		return f, true
	}
	v, err := strconv.ParseFloat(alias(b[start:i]), 64)
	return v, err == nil
}

// pow10 are the powers of ten float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// number reads a number as JSON's grammar has it and returns its bytes.
func (s *fastScanner) number() ([]byte, bool) {
	b, i := s.b, s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	s.i = i
	return b[start:i], true
}

// str reads a string without escapes, of valid UTF-8, and returns its
// content. It looks at eight bytes at a time while none of them needs a
// look (a quote, a backslash, a control character or a non-ASCII byte);
// the first that does ends the loop, and a string of ASCII without
// escapes, nearly every string of an event, is then read: the byte is its
// closing quote. Anything else is left to strTail.
func (s *fastScanner) str() ([]byte, bool) {
	b, i := s.b, s.i
	if i >= len(b) || b[i] != '"' {
		return nil, false
	}
	i++
	start := i
	for i <= len(b)-8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if m := special(w); m != 0 {
			// The first flagged byte is always a true one; it is taken
			// from w rather than loaded again.
			z := bits.TrailingZeros64(m) &^ 7
			i += z >> 3
			if byte(w>>z) == '"' {
				s.i = i + 1
				return b[start:i], true
			}
			break
		}
		i += 8
	}
	return s.strTail(start, i)
}

// strTail reads the rest of the string whose content starts at start, from
// i, a byte at a time: the last few bytes of the message, or a string
// with a non-ASCII byte (to check as UTF-8) or one the fast path refuses
// (an escape or a control character). The bytes from start to i are
// plain ASCII.
func (s *fastScanner) strTail(start, i int) ([]byte, bool) {
	b := s.b
	ascii := true
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			v := b[start:i]
			if !ascii && !utf8.Valid(v) {
				return nil, false
			}
			s.i = i + 1
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// special flags (high bit of each byte) the bytes of w, eight bytes of a
// string, that need a look: a quote, a backslash, a byte below 0x20 or
// one of 0x80 and above. Borrows can flag bytes after a flagged one, never
// before: the lowest flag is exact.
func special(w uint64) uint64 {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	q := w ^ (lsb * '"')
	bs := w ^ (lsb * '\\')
	below := (w - lsb*0x20) &^ w // a byte below 0x20 (as Mycroft's hasless)
	quote := (q - lsb) &^ q      // a zero byte of q: a quote
	slash := (bs - lsb) &^ bs    // a backslash
	return (below | quote | slash | w) & msb
}

func (s *fastScanner) boolean() (bool, bool) {
	if s.literal("true") {
		return true, true
	}
	return false, s.literal("false")
}

// null consumes a null, reporting whether there was one.
func (s *fastScanner) null() bool { return s.literal("null") }

func (s *fastScanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

func (s *fastScanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// ws skips whitespace. Most producers write none: the loop's first test
// ends it at any byte above the space, which no whitespace is.
func (s *fastScanner) ws() {
	for s.i < len(s.b) && s.b[s.i] <= ' ' {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// alias returns b's bytes as a string without copying: the string is valid
// while b is unchanged.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// nameSet finds a repeated name among up to a few hundred, without
// allocating once grown: open addressing over hashes, cleared by
// generation.
type nameSet struct {
	// seed makes the hashes of this process unpredictable, so that no
	// producer can choose names that collide into long probe runs.
	seed  maphash.Seed
	slots []nameSlot
	names []string // of the current generation, so no slot keeps an old message alive
	gen   uint32
	mask  uint64
}

type nameSlot struct {
	gen  uint32
	name int32
	hash uint64
}

// reset empties the set for up to n names.
func (t *nameSet) reset(n int) {
	size := 16
	for size < 2*n {
		size *= 2
	}
	if len(t.slots) < size {
		if t.slots == nil {
			t.seed = maphash.MakeSeed()
		}
		t.slots = make([]nameSlot, size)
		t.gen = 0
	}
	t.mask = uint64(len(t.slots) - 1)
	clear(t.names)
	t.names = t.names[:0]
	t.gen++
	if t.gen == 0 { // wrapped: old generations could match again
		clear(t.slots)
		t.gen = 1
	}
}

// add adds name, reporting false when it is already in the set.
func (t *nameSet) add(name string) bool {
	h := maphash.String(t.seed, name)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		sl := &t.slots[i]
		if sl.gen != t.gen {
			*sl = nameSlot{gen: t.gen, hash: h, name: int32(len(t.names))}
			t.names = append(t.names, name)
			return true
		}
		if sl.hash == h && t.names[sl.name] == name {
			return false
		}
	}
}

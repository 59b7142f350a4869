package storage

import (
	"reflect"
	"testing"
	"time"
)

func referenceRows(model, version, id string, created time.Time, mean float64) []ReferenceRow {
	return []ReferenceRow{
		{ModelID: model, ModelVersion: version, ReferenceID: id, CreatedAt: created, Source: "warmup", Windows: 5,
			Feature: "amount", Kind: "numeric", N: 1000, Mean: mean, Variance: 2.5, Min: 0, Max: 50,
			BinEdges: []float64{1, 2, 3}, BinCounts: []uint64{250, 250, 250, 250},
			Categories: []string{}, CategoryCounts: []uint64{}, Sample: []float64{0.5, 1.5, 2.5, 49}},
		{ModelID: model, ModelVersion: version, ReferenceID: id, CreatedAt: created, Source: "warmup", Windows: 5,
			Feature: "country", Kind: "categorical", N: 1000,
			BinEdges: []float64{}, BinCounts: []uint64{},
			Categories: []string{"DE", "FR"}, CategoryCounts: []uint64{600, 400}, Sample: []float64{}},
	}
}

func TestReferences(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := testContext(t)
	day := 24 * time.Hour
	old := referenceRows("fraud", "v1", "aaa-old", t0, 10)
	newer := referenceRows("fraud", "v1", "000-new", t0.Add(day), 11) // newer, though its id sorts first
	other := referenceRows("fraud", "v2", "bbb", t0, 20)
	churn := referenceRows("churn", "2024-05", "ccc", t0.Add(2*day), 30)
	for _, rows := range [][]ReferenceRow{old, newer, other, churn, newer} { // newer saved twice
		if err := s.SaveReference(ctx, rows); err != nil {
			t.Fatalf("SaveReference: %v", err)
		}
	}
	got, err := s.LoadReferences(ctx)
	if err != nil {
		t.Fatalf("LoadReferences: %v", err)
	}
	for i := range got {
		got[i].CreatedAt = got[i].CreatedAt.UTC()
	}
	want := append(append(append([]ReferenceRow(nil), churn...), newer...), other...)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("LoadReferences:\n got %+v\nwant %+v", got, want)
	}
}

func TestReferencesTieAndStamp(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := testContext(t)
	// Two references created in the same second: the larger id wins, deterministically.
	if err := s.SaveReference(ctx, referenceRows("m", "v", "id-b", t0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveReference(ctx, referenceRows("m", "v", "id-a", t0, 2)); err != nil {
		t.Fatal(err)
	}
	// A zero CreatedAt becomes the time of the write, which is newer than both.
	stamped := referenceRows("n", "v", "id-c", time.Time{}, 3)
	before := time.Now().UTC().Truncate(time.Second)
	if err := s.SaveReference(ctx, stamped); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadReferences(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0].ReferenceID != "id-b" || got[2].ReferenceID != "id-c" {
		t.Fatalf("LoadReferences = %+v, want id-b for m/v and id-c for n/v", got)
	}
	if got[2].CreatedAt.Before(before) {
		t.Fatalf("stamped created_at = %v, want >= %v", got[2].CreatedAt, before)
	}
	if !stamped[0].CreatedAt.IsZero() {
		t.Fatal("SaveReference modified the caller's rows")
	}
}

func TestLoadReferencesEmpty(t *testing.T) {
	s := newTestStore(t, nil)
	got, err := s.LoadReferences(testContext(t))
	if err != nil || len(got) != 0 {
		t.Fatalf("LoadReferences on an empty table = %v, %v; want no rows", got, err)
	}
}

package storage

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestSilencesAddListExpire(t *testing.T) {
	s := newTestStore(t, nil)
	ctx := testContext(t)
	start := now()
	fraud, err := s.AddSilence(ctx, SilenceRow{Matchers: []string{"model_id=fraud-*", "severity!=critical"},
		EndsAt: start.Add(2 * time.Hour), CreatedBy: "ana", Comment: "retrain of fraud models"})
	if err != nil {
		t.Fatal(err)
	}
	if len(fraud.ID) != 16 || !fraud.StartsAt.Equal(start) && fraud.StartsAt.Sub(start) > 2*time.Second {
		t.Fatalf("added silence %+v: want a 16-digit id starting now", fraud)
	}
	later, err := s.AddSilence(ctx, SilenceRow{Matchers: []string{"model_id=churn"}, StartsAt: start.Add(time.Hour),
		EndsAt: start.Add(3 * time.Hour), CreatedBy: "bo", Comment: "maintenance"})
	if err != nil {
		t.Fatal(err)
	}
	over, err := s.AddSilence(ctx, SilenceRow{ID: "old", Matchers: []string{"model_id=old"}, StartsAt: start.Add(-3 * time.Hour),
		EndsAt: start.Add(-2 * time.Hour), CreatedBy: "cy", Comment: "long over"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddSilence(ctx, SilenceRow{Matchers: []string{"model_id=x"}, StartsAt: start, EndsAt: start}); err == nil {
		t.Fatal("a silence that ends when it starts was added")
	}

	active, err := s.Silences(ctx, start, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []SilenceRow{fraud, later}; !reflect.DeepEqual(active, want) {
		t.Fatalf("silences not ended:\n got %+v\nwant %+v", active, want)
	}

	exp, err := s.ExpireSilence(ctx, fraud.ID, "dee")
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Expired || exp.ExpiredBy != "dee" || exp.EndsAt.After(now()) || exp.Version <= fraud.Version || exp.CreatedBy != "ana" {
		t.Fatalf("expired version %+v", exp)
	}
	again, err := s.ExpireSilence(ctx, fraud.ID, "eve")
	if err != nil || !reflect.DeepEqual(again, exp) {
		t.Fatalf("expiring twice: %+v, %v; want %+v unchanged", again, err, exp)
	}
	if _, err := s.ExpireSilence(ctx, "nope", "eve"); !errors.Is(err, ErrSilenceNotFound) {
		t.Fatalf("expiring an unknown silence: %v, want ErrSilenceNotFound", err)
	}

	active, err = s.Silences(ctx, now(), false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []SilenceRow{later}; !reflect.DeepEqual(active, want) {
		t.Fatalf("silences not ended after expiry:\n got %+v\nwant %+v", active, want)
	}
	all, err := s.Silences(ctx, now(), true)
	if err != nil {
		t.Fatal(err)
	}
	if want := []SilenceRow{over, exp, later}; !reflect.DeepEqual(all, want) {
		t.Fatalf("all silences:\n got %+v\nwant %+v", all, want)
	}
	// Two versions of the expired silence are stored; reads see the newest.
	if n := queryInt(t, s, "SELECT count() FROM silences WHERE id = '"+fraud.ID+"'"); n != 2 {
		t.Fatalf("%d rows of the expired silence, want 2 (added, expired)", n)
	}
	if !later.ActiveAt(start.Add(90*time.Minute)) || later.ActiveAt(start) || exp.ActiveAt(start) {
		t.Fatal("ActiveAt")
	}
}

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/ingest"
)

// TestGenerateLabels runs driftwatch generate with labels and the
// concept-drift scenario against an embedded broker, and its flag errors.
func TestGenerateLabels(t *testing.T) {
	broker, err := ingest.StartEmbedded(ingest.EmbeddedConfig{Topics: []string{"t", "labels"}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	base := []string{"generate", "--brokers", broker.Brokers()[0], "--topic", "t", "--events", "400", "--rate", "0"}
	tests := []struct {
		name string
		args []string
		code int
		says string // on stdout for exit 0, else on stderr
	}{
		{"labels", []string{"--labels-topic", "labels", "--label-delay", "1s"}, 0,
			"produced 400 events to t\nproduced 400 labels to labels (0 dropped: more than 1000000 pending)\n"},
		{"concept drift", []string{"--labels-topic", "labels", "--label-share", "0.5", "--label-jitter", "1s",
			"--shift-model", "fraud-scorer", "--scenario", "concept-drift", "--shift-after", "100ms"}, 0, "produced 400 events to t\nproduced "},
		{"pending cap", []string{"--labels-topic", "labels", "--label-max-pending", "10", "--label-delay", "1h"}, 0,
			"produced 10 labels to labels (390 dropped: more than 10 pending)"},
		{"concept drift without labels", []string{"--shift-model", "fraud-scorer", "--scenario", "concept-drift"}, 1, "give --labels-topic"},
		{"zero share", []string{"--labels-topic", "labels", "--label-share", "0"}, 1, "--label-share"},
		{"negative delay", []string{"--labels-topic", "labels", "--label-delay", "-1s"}, 1, "labels.delay"},
		{"labels topic is the topic", []string{"--labels-topic", "t"}, 1, "is the inference topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out, errb bytes.Buffer
			code := run(ctx, append(append([]string{}, base...), tt.args...), &out, &errb, nil)
			got := out.String()
			if code != 0 {
				got = errb.String()
			}
			if code != tt.code || !strings.Contains(got, tt.says) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d saying %q", code, out.String(), errb.String(), tt.code, tt.says)
			}
		})
	}
}

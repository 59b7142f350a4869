package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/alerting"
	"github.com/driftwatch/driftwatch/alerting/internal/alert"
	"github.com/driftwatch/driftwatch/alerting/internal/alerttest"
	"github.com/driftwatch/driftwatch/alerting/slack"
)

// groupOf returns a grouped notification of model with firing and resolved
// alerts whose feature names are hostile and long.
func groupOf(model string, firing, resolved int) *alert.Notification {
	long := strings.Repeat("<&>`*_", 200)
	g := &alert.Group{Labels: []alert.Label{{Name: "model_id", Value: model}}}
	add := func(i int, status string) *alert.Notification {
		o := alerttest.Window(0, model, "1", fmt.Sprintf("%04d%s", i, long), alerting.SeverityCritical,
			alerttest.PSI(0.5, alerting.SeverityCritical))
		return &alert.Notification{Key: alerting.Key(o.ModelID, o.ModelVersion, o.Feature), Status: status,
			Severity: o.Severity, ModelID: o.ModelID, ModelVersion: o.ModelVersion, Feature: o.Feature,
			Tests: o.Tests, WindowStart: o.WindowStart, WindowEnd: o.WindowEnd, StartsAt: o.WindowStart}
	}
	for i := range firing {
		g.Firing = append(g.Firing, add(i, alert.StatusFiring))
	}
	for i := range resolved {
		g.Resolved = append(g.Resolved, add(firing+i, alert.StatusResolved))
	}
	status := alert.StatusFiring
	if firing == 0 {
		status = alert.StatusResolved
	}
	return &alert.Notification{Key: alerting.GroupKey(g.Labels), Status: status, Severity: alerting.SeverityCritical,
		ModelID: model, Group: g, WindowEnd: alerttest.T0}
}

// TestGroupMessageLimits: a group of thousands of alerts with hostile names
// is one message within Slack's Block Kit limits (checkBlockKit), its
// telemetry escaped in mrkdwn (the plain_text header shows it literally, as
// a single alert's does), counting the alerts it leaves out.
func TestGroupMessageLimits(t *testing.T) {
	for _, size := range [][2]int{{3, 1}, {2000, 500}, {0, 4}} {
		t.Run(fmt.Sprintf("%d firing %d resolved", size[0], size[1]), func(t *testing.T) {
			srv := alerttest.NewServer(t, checkBlockKit, slackOK())
			n := newNotifier(t, srv.URL+"/services/T/B/X")
			if err := n.Notify(context.Background(), groupOf("<!here>", size[0], size[1])); err != nil {
				t.Fatal(err)
			}
			var msg slack.Message
			if err := json.Unmarshal(srv.Requests()[0].Body, &msg); err != nil {
				t.Fatal(err)
			}
			listed, more := 0, 0
			if strings.Contains(msg.Text, "<!here>") {
				t.Errorf("the model id reached the fallback text unescaped: %q", msg.Text)
			}
			for _, b := range msg.Blocks {
				if b.Type != "section" || b.Text == nil {
					continue
				}
				if strings.Contains(b.Text.Text, "<!here>") {
					t.Errorf("the model id reached a section unescaped")
				}
				listed += strings.Count(b.Text.Text, " on feature `")
				if _, err := fmt.Sscanf(b.Text.Text, "… and %d more", &more); err == nil {
					continue
				}
			}
			if total := size[0] + size[1]; listed+more != total || listed == 0 {
				t.Errorf("lists %d and counts %d more, want %d in all", listed, more, total)
			}
		})
	}
}

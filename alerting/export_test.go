package alerting

import (
	"context"
	"time"
)

// SetNow replaces the manager's clock; call it before Run.
func SetNow(m *Manager, now func() time.Time) { m.now = now }

// FlushGroups queues the message of every notification group due at the
// manager's clock, as Run's ticker does.
func FlushGroups(m *Manager) { m.flushGroupsNow() }

// RefreshSilences reads the silences and applies them at the manager's
// clock, as Run's silence watcher does.
func RefreshSilences(m *Manager) { m.refreshSilences(context.Background()) }

package alerting

import "time"

// SetNow replaces the manager's clock; call it before Run.
func SetNow(m *Manager, now func() time.Time) { m.now = now }

// FlushGroups queues the message of every notification group due at the
// manager's clock, as Run's ticker does.
func FlushGroups(m *Manager) { m.flushGroupsNow() }

package nagios

import "testing"

func TestStateStringAndExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		state State
		str   string
		code  int
	}{
		{"ok", OK, "OK", 0},
		{"warning", Warning, "WARNING", 1},
		{"critical", Critical, "CRITICAL", 2},
		{"unknown", Unknown, "UNKNOWN", 3},
		{"out of range high", State(7), "UNKNOWN", 3},
		{"out of range negative", State(-1), "UNKNOWN", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.state.String(); got != tt.str {
				t.Errorf("State(%d).String() = %q, want %q", int(tt.state), got, tt.str)
			}
			if got := tt.state.ExitCode(); got != tt.code {
				t.Errorf("State(%d).ExitCode() = %d, want %d", int(tt.state), got, tt.code)
			}
		})
	}
}

func TestWorst(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		states []State
		want   State
	}{
		{"none", nil, OK},
		{"ok", []State{OK, OK}, OK},
		{"unknown beats ok", []State{OK, Unknown}, Unknown},
		{"warning beats unknown", []State{Unknown, Warning}, Warning},
		{"warning beats unknown reversed", []State{Warning, Unknown}, Warning},
		{"critical beats warning", []State{Warning, Critical, OK}, Critical},
		{"critical beats unknown", []State{Critical, Unknown}, Critical},
		{"invalid counts as unknown", []State{OK, State(9)}, Unknown},
		{"invalid below warning", []State{State(9), Warning}, Warning},
		{"all four", []State{OK, Unknown, Critical, Warning}, Critical},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Worst(tt.states...); got != tt.want {
				t.Errorf("Worst(%v) = %v, want %v", tt.states, got, tt.want)
			}
		})
	}
}

func TestRaise(t *testing.T) {
	t.Parallel()
	var r Result
	steps := []struct {
		raise, want State
	}{
		{OK, OK},
		{Unknown, Unknown},
		{Warning, Warning},
		{Unknown, Warning},
		{OK, Warning},
		{Critical, Critical},
		{Warning, Critical},
	}
	for i, s := range steps {
		r.Raise(s.raise)
		if r.State != s.want {
			t.Fatalf("step %d: Raise(%v) left State = %v, want %v", i, s.raise, r.State, s.want)
		}
	}
}

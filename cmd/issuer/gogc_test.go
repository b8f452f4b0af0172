package main

import (
	"runtime/debug"
	"testing"
)

func TestSetDefaultGOGC(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		applied bool
		want    int
	}{
		{name: "unset", env: map[string]string{}, applied: true, want: defaultGOGC},
		{name: "operator value kept", env: map[string]string{"GOGC": "150"}, applied: false, want: 77},
		{name: "off kept", env: map[string]string{"GOGC": "off"}, applied: false, want: 77},
		{name: "empty GOGC kept", env: map[string]string{"GOGC": ""}, applied: false, want: 77},
	}
	orig := debug.SetGCPercent(77)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(77)
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			if got := setDefaultGOGC(lookup); got != tc.applied {
				t.Fatalf("applied = %v, want %v", got, tc.applied)
			}
			if got := debug.SetGCPercent(77); got != tc.want {
				t.Fatalf("GC percent = %d, want %d", got, tc.want)
			}
		})
	}
}

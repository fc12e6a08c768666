package gst

// #include <glib.h>
import "C"

import "runtime/cgo"

// The trampolines of signal.go call these (a file with //export may hold C
// declarations only).

//export miksiloSignalRun
func miksiloSignalRun(h C.guintptr) { cgo.Handle(h).Value().(func())() }

//export miksiloSignalDone
func miksiloSignalDone(h C.guintptr) { cgo.Handle(h).Delete() }

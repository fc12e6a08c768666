package server

import "github.com/miksilo/miksilo/mediaelements"

// Registry builds the type registry: the object model's own classes plus
// one line per element type.
func Registry() *mediaelements.Registry {
	return mediaelements.NewRegistry(
		mediaelements.PassThroughClass(),
		mediaelements.DispatcherClass(),
		mediaelements.DispatcherOneToManyClass(),
	)
}

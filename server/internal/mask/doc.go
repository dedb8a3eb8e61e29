// Package mask applies google.protobuf.FieldMask values to messages through protoreflect: read
// masks that keep only the listed fields, and update masks that copy the listed fields from a
// request into a stored message.
package mask

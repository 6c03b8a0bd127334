package record

import (
	"github.com/gousp/gousp/internal/pbfast"
	"google.golang.org/protobuf/proto"
)

// UnmarshalPayload decodes b into m exactly as proto.Unmarshal does (same
// accepted inputs, same result, same errors for rejected input) but, for
// messages with vtprotobuf's generated code such as *uspmsg.Msg, at the
// generated code's speed. It is meant for a record's payload: see [Payload].
func UnmarshalPayload(b []byte, m proto.Message) error {
	return pbfast.Unmarshal(b, m)
}

package pbfast_test

import (
	"fmt"

	"github.com/gousp/gousp/internal/pbfast"
	"github.com/gousp/gousp/proto/uspmsg"
	"google.golang.org/protobuf/proto"
)

func ExampleUnmarshal() {
	b, _ := proto.Marshal(&uspmsg.Msg{Header: &uspmsg.Header{MsgId: "42", MsgType: uspmsg.Header_GET}})
	var m uspmsg.Msg
	if err := pbfast.Unmarshal(b, &m); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.GetHeader().GetMsgId(), m.GetHeader().GetMsgType())

	// A string that is not UTF-8 is rejected, as proto.Unmarshal does.
	bad := []byte{0x0a, 0x03, 0x0a, 0x01, 0xff} // header { msg_id: "\xff" }
	fmt.Println(pbfast.Unmarshal(bad, &m) != nil)
	// Output:
	// 42 GET
	// true
}

package msg_test

import (
	"errors"
	"fmt"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
)

// A failed Set reports the general 7004 at the top and the cause per
// parameter; ParamCode picks the cause, Codes lists both.
func ExampleParamCode() {
	err := msg.SetResp{Results: []msg.SetResult{{
		Requested: "Device.DeviceInfo.",
		Err:       &msg.Error{Code: msg.CodeInvalidArguments},
		Failed: []msg.FailedInstance{{ParamErrs: []msg.ParamError{
			{Path: "Device.DeviceInfo.SerialNumber", Code: msg.CodeParamReadOnly},
		}}},
	}}}.Err()
	fmt.Println(uint32(msg.CodeOf(err)), uint32(msg.ParamCode(err)), msg.Codes(err))
	fmt.Println(errors.Is(err, msg.ErrParamReadOnly))
	// Output:
	// 7004 7013 [invalid arguments attempt to update non-writeable parameter]
	// true
}

// Errors of the lower layers carry the same codes: a path the schema does
// not know is a 7026, as the agent would answer.
func ExampleCodeOf_datamodel() {
	schema, _ := datamodel.NewSchema([]datamodel.SupportedObject{{Path: "Device.DeviceInfo."}})
	_, err := schema.LookupString("Device.NoSuch.")
	fmt.Println(uint32(msg.CodeOf(err)), errors.Is(err, msg.ErrInvalidPath))
	// Output: 7026 true
}

package msg

import (
	"testing"

	"github.com/gousp/gousp/datamodel"
)

func TestSchemaFromCapture(t *testing.T) {
	r := want[*GetSupportedDMResp](t, capturesByName(t), "68-gsdm-device-full")
	s, err := r.Schema()
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.LookupString("Device.LocalAgent.Controller.2.EndpointID")
	if err != nil {
		t.Fatal(err)
	}
	if e.Param == nil || e.Param.Type != datamodel.TypeString {
		t.Fatalf("entry = %+v", e)
	}
	// Every object, parameter and command of the response made it over.
	objs, params, cmds := 0, 0, 0
	for _, o := range s.Objects() {
		objs++
		params += len(o.Params)
		cmds += len(o.Commands)
	}
	if objs != 47 || params != 242 || cmds != 11 {
		t.Fatalf("schema has %d objects, %d params, %d commands; the capture has 47, 242, 11", objs, params, cmds)
	}
	if err := s.CheckSet(datamodel.MustParse("Device.DeviceInfo."), map[string]string{"SerialNumber": "x"}); err == nil {
		t.Fatal("CheckSet accepted a read-only parameter")
	}
}

func TestSchemaAllFailed(t *testing.T) {
	r := GetSupportedDMResp{Results: []SupportedDMResult{{Requested: "Device.X.", Err: &Error{Code: CodeInvalidPath}}}}
	if _, err := r.Schema(); err == nil {
		t.Fatal("no error for a response without objects")
	}
}

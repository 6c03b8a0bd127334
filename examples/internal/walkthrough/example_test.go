package walkthrough_test

import (
	"fmt"
	"os"

	"github.com/gousp/gousp/examples/internal/walkthrough"
	"github.com/gousp/gousp/msg"
)

func ExampleTable() {
	walkthrough.Table(os.Stdout, map[string]string{
		"Device.DeviceInfo.SoftwareVersion": "2.0.0",
		"Device.DeviceInfo.Manufacturer":    "gousp",
	})
	// Output:
	//   Device.DeviceInfo.Manufacturer     gousp
	//   Device.DeviceInfo.SoftwareVersion  2.0.0
}

func ExampleDescribe() {
	fmt.Println(walkthrough.Describe(&msg.ValueChange{ParamPath: "Device.DeviceInfo.ProvisioningCode", ParamValue: "42"}))
	// Output:
	// ValueChange Device.DeviceInfo.ProvisioningCode = "42"
}

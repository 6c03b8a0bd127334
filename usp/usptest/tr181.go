package usptest

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/msg"
)

// tr181 is the TR-181 subset DefaultModel serves, in the format of
// Model.Define.
const tr181 = `
Device.
  Reboot()                   sync  in=Cause,Reason
  FactoryReset()             sync  in=Cause,Reason
  ScheduleTimer()            async in=DelaySeconds
  SelfTestDiagnostics()      async out=Results
  Boot!                      args=CommandKey,Cause,Reason,FirmwareUpdated,ParameterMap

Device.DeviceInfo.
  Manufacturer               string r = gousp
  ManufacturerOUI            string r = 00D09E
  ModelName                  string r = usptest
  Description                string r = In-process USP agent for tests
  ProductClass               string r = usptest
  SerialNumber               string r = 000000000001
  HardwareVersion            string r = 1.0
  SoftwareVersion            string r = 1.0.0
  ProvisioningCode           string rw
  UpTime                     unsignedInt r = 0
  ActiveFirmwareImage        string r = Device.DeviceInfo.FirmwareImage.1
  BootFirmwareImage          string rw = Device.DeviceInfo.FirmwareImage.1
  FirmwareImageNumberOfEntries unsignedInt r = 0

Device.DeviceInfo.FirmwareImage.{i}.  read-only  keys=Alias
  Alias                      string rw
  Name                       string r
  Version                    string r
  Available                  boolean rw = false
  Status                     string r enum=NoImage,Downloading,Validating,Available,DownloadFailed,ValidationFailed,InstallationFailed,ActivationFailed = NoImage
  BootFailureLog             string r
  Download()                 async in=URL,AutoActivate,Username,Password,FileSize,CheckSumAlgorithm,CheckSum
  Activate()                 async in=TimeWindow.1.Start,TimeWindow.1.End,TimeWindow.1.Mode,TimeWindow.1.UserMessage,TimeWindow.1.MaxRetries

Device.LocalAgent.
  EndpointID                 string r
  SoftwareVersion            string r = 1.0.0
  UpTime                     unsignedInt r = 0
  SupportedProtocols         string r = MQTT,STOMP,WebSocket,UDS
  SupportedFingerprintAlgorithms string r = SHA-256
  MTPNumberOfEntries         unsignedInt r = 0
  ControllerNumberOfEntries  unsignedInt r = 0
  SubscriptionNumberOfEntries unsignedInt r = 0
  RequestNumberOfEntries     unsignedInt r = 0
  Periodic!
  TransferComplete!          args=Command,CommandKey,Requestor,TransferType,Affected,TransferURL,StartTime,CompleteTime,FaultCode,FaultString

Device.LocalAgent.MTP.{i}.  add-delete  keys=Alias
  Alias                      string rw
  Enable                     boolean rw = false
  Protocol                   string rw enum=CoAP,STOMP,WebSocket,MQTT,UDS = MQTT
  Status                     string r enum=Error,Down,Up = Down
Device.LocalAgent.MTP.{i}.MQTT.
  Reference                  string rw
  ResponseTopicConfigured    string rw
  ResponseTopicDiscovered    string r
  PublishQoS                 unsignedInt rw = 0
Device.LocalAgent.MTP.{i}.STOMP.
  Reference                  string rw
  Destination                string rw
  DestinationFromServer      string r
Device.LocalAgent.MTP.{i}.WebSocket.
  Port                       unsignedInt rw = 80
  Path                       string rw
  EnableEncryption           boolean rw = true
  KeepAliveInterval          unsignedInt rw = 30

Device.LocalAgent.Controller.{i}.  add-delete  keys=Alias  keys=EndpointID
  Alias                      string rw
  Enable                     boolean rw = false
  EndpointID                 string rw
  AssignedRole               string rw list
  InheritedRole              string r list
  PeriodicNotifInterval      unsignedInt rw = 86400
  PeriodicNotifTime          dateTime rw = 0001-01-01T00:00:00Z
  USPNotifRetryMinimumWaitInterval unsignedInt rw = 5
  USPNotifRetryIntervalMultiplier  unsignedInt rw = 2000
  ControllerCode             string rw
  ProvisioningCode           string rw
  MTPNumberOfEntries         unsignedInt r = 0
  BootParameterNumberOfEntries unsignedInt r = 0
  SendOnBoardRequest()       sync
Device.LocalAgent.Controller.{i}.E2ESession.
  SessionExpiration          unsignedInt rw = 3600
  MaxRetransmitTries         int rw = 5
  SessionRetryMinimumWaitInterval unsignedInt rw = 5
  SessionRetryIntervalMultiplier  unsignedInt rw = 2000
Device.LocalAgent.Controller.{i}.MTP.{i}.  add-delete  keys=Alias  keys=Protocol
  Alias                      string rw
  Enable                     boolean rw = false
  Protocol                   string rw enum=CoAP,STOMP,WebSocket,MQTT,UDS = MQTT
Device.LocalAgent.Controller.{i}.MTP.{i}.STOMP.
  Reference                  string rw
  Destination                string rw
Device.LocalAgent.Controller.{i}.MTP.{i}.MQTT.
  Reference                  string rw
  Topic                      string rw
Device.LocalAgent.Controller.{i}.MTP.{i}.WebSocket.
  Host                       string rw
  Port                       unsignedInt rw = 80
  Path                       string rw
  EnableEncryption           boolean rw = true
  KeepAliveInterval          unsignedInt rw = 30
  SessionRetryMinimumWaitInterval unsignedInt rw = 5
  SessionRetryIntervalMultiplier  unsignedInt rw = 2000
Device.LocalAgent.Controller.{i}.BootParameter.{i}.  add-delete  keys=Alias  keys=ParameterName
  Alias                      string rw
  Enable                     boolean rw = false
  ParameterName              string rw

Device.LocalAgent.Subscription.{i}.  add-delete  keys=Alias  keys=ID,Recipient
  Alias                      string rw
  Enable                     boolean rw = false
  Recipient                  string r
  ID                         string rw
  CreationDate               dateTime r = 0001-01-01T00:00:00Z
  NotifType                  string rw enum=ValueChange,ObjectCreation,ObjectDeletion,OperationComplete,Event = ValueChange
  ReferenceList              string rw list
  Persistent                 boolean rw = false
  TimeToLive                 unsignedInt rw = 0
  NotifRetry                 boolean rw = false
  NotifExpiration            unsignedInt rw = 0

Device.LocalAgent.Request.{i}.  read-only  keys=Alias
  Alias                      string rw
  Originator                 string r
  Command                    string r
  CommandKey                 string r
  Status                     string r enum=Requested,Active,Canceling,Canceled,Success,Error = Requested
  Cancel()                   sync

Device.STOMP.
  ConnectionNumberOfEntries  unsignedInt r = 0
Device.STOMP.Connection.{i}.  add-delete  keys=Alias
  Alias                      string rw
  Enable                     boolean rw = false
  Status                     string r enum=Enabled,Disabled,Error = Disabled
  Host                       string rw
  Port                       unsignedInt rw = 61613
  Username                   string rw
  Password                   string rw
  VirtualHost                string rw
  EnableHeartbeats           boolean rw = false
  OutgoingHeartbeat          unsignedInt rw = 0
  IncomingHeartbeat          unsignedInt rw = 0
  ServerRetryInitialInterval unsignedInt rw = 60
  ServerRetryIntervalMultiplier unsignedInt rw = 2000
  ServerRetryMaxInterval     unsignedInt rw = 30720
  EnableEncryption           boolean rw = true
  IsEncrypted                boolean r = false

Device.MQTT.
  ClientNumberOfEntries      unsignedInt r = 0
Device.MQTT.Capabilities.
  ProtocolVersionsSupported  string r list = 5.0
  TransportProtocolSupported string r list = TCP/IP,TLS
  MaxNumberOfClientSubscriptions unsignedInt r = 0
Device.MQTT.Client.{i}.  add-delete  keys=Alias  keys=Name
  Alias                      string rw
  Name                       string r
  Enable                     boolean r = true
  Status                     string r enum=Connecting,Connected,Error_BrokerUnreachable,Error,Disabled = Disabled
  ProtocolVersion            string r enum=3.1,3.1.1,5.0 = 5.0
  BrokerAddress              string r
  BrokerPort                 unsignedInt r = 1883
  TransportProtocol          string r enum=TCP/IP,TLS = TCP/IP
  ClientID                   string rw
  Username                   string r
  Password                   string r
  KeepAliveTime              unsignedInt rw = 60
  ConnectRetryTime           unsignedInt rw = 5
  ConnectRetryIntervalMultiplier unsignedInt rw = 2000
  ConnectRetryMaxInterval    unsignedInt rw = 30720
  CleanStart                 boolean r = true
  RequestResponseInfo        boolean r = true
  ResponseInformation        string r
  SubscriptionNumberOfEntries unsignedInt r = 0
Device.MQTT.Client.{i}.Subscription.{i}.  add-delete  keys=Alias  keys=Topic
  Alias                      string rw
  Enable                     boolean rw = false
  Status                     string r enum=Unsubscribed,Subscribed,Subscribing,Unsubscribing,Error = Unsubscribed
  Topic                      string rw
  QoS                        unsignedInt rw = 0

Device.WiFi.
  RadioNumberOfEntries       unsignedInt r = 0
  SSIDNumberOfEntries        unsignedInt r = 0
  AccessPointNumberOfEntries unsignedInt r = 0
  NeighboringWiFiDiagnostic() async out=Status,Result.1.Radio,Result.1.SSID,Result.1.BSSID,Result.1.Channel,Result.1.SignalStrength,Result.1.OperatingFrequencyBand,Result.1.Noise

Device.WiFi.Radio.{i}.  read-only  keys=Alias  keys=Name
  Alias                      string rw
  Enable                     boolean rw = true
  Status                     string r enum=Up,Down,Unknown,Dormant,NotPresent,LowerLayerDown,Error = Up
  Name                       string r
  LowerLayers                string rw list
  SupportedFrequencyBands    string r list
  OperatingFrequencyBand     string rw enum=2.4GHz,5GHz,6GHz = 2.4GHz
  SupportedStandards         string r list
  OperatingStandards         string rw list
  PossibleChannels           string r list
  Channel                    unsignedInt rw = 1
  AutoChannelEnable          boolean rw = true
  OperatingChannelBandwidth  string rw enum=20MHz,40MHz,80MHz,160MHz,320MHz,Auto = Auto
  TransmitPower              int rw = 100
Device.WiFi.Radio.{i}.Stats.
  BytesSent                  unsignedLong r = 0
  BytesReceived              unsignedLong r = 0
  Noise                      int r = -95

Device.WiFi.SSID.{i}.  add-delete  keys=Alias  keys=Name
  Alias                      string rw
  Enable                     boolean rw = false
  Status                     string r enum=Up,Down,Unknown,Dormant,NotPresent,LowerLayerDown,Error = Down
  Name                       string r
  LowerLayers                string rw list
  BSSID                      string r
  MACAddress                 string r
  SSID                       string rw
Device.WiFi.SSID.{i}.Stats.
  BytesSent                  unsignedLong r = 0
  BytesReceived              unsignedLong r = 0
  ErrorsSent                 unsignedInt r = 0

Device.WiFi.AccessPoint.{i}.  add-delete  keys=Alias  keys=SSIDReference
  Alias                      string rw
  Enable                     boolean rw = false
  Status                     string r enum=Disabled,Enabled,Error_Misconfigured,Error = Disabled
  SSIDReference              string rw
  SSIDAdvertisementEnabled   boolean rw = true
  AssociatedDeviceNumberOfEntries unsignedInt r = 0
Device.WiFi.AccessPoint.{i}.Security.
  ModesSupported             string r list = None,WPA2-Personal,WPA3-Personal,WPA2-WPA3-Personal
  ModeEnabled                string rw enum=None,WPA2-Personal,WPA3-Personal,WPA2-WPA3-Personal = WPA2-Personal
  KeyPassphrase              string w
Device.WiFi.AccessPoint.{i}.AssociatedDevice.{i}.  read-only  keys=MACAddress
  MACAddress                 string r
  Active                     boolean r = true
  SignalStrength             int r = -50

Device.IP.
  InterfaceNumberOfEntries   unsignedInt r = 0
Device.IP.Interface.{i}.  add-delete  keys=Alias  keys=Name
  Alias                      string rw
  Enable                     boolean rw = false
  Status                     string r enum=Up,Down,Unknown,Dormant,NotPresent,LowerLayerDown,Error = Down
  Name                       string r
  LowerLayers                string rw list
  Type                       string r enum=Normal,Loopback,Tunnel,Tunneled = Normal
  IPv4AddressNumberOfEntries unsignedInt r = 0
Device.IP.Interface.{i}.IPv4Address.{i}.  add-delete  keys=Alias  keys=IPAddress,SubnetMask
  Alias                      string rw
  Enable                     boolean rw = false
  Status                     string r enum=Disabled,Enabled,Error_Misconfigured,Error = Disabled
  IPAddress                  string rw
  SubnetMask                 string rw
  AddressingType             string r enum=DHCP,AutoIP,IPCP,Static = Static
Device.IP.Diagnostics.
  IPPing()                   async in=Interface,ProtocolVersion,Host,NumberOfRepetitions,Timeout,DataBlockSize,DSCP out=Status,IPAddressUsed,SuccessCount,FailureCount,AverageResponseTime,MinimumResponseTime,MaximumResponseTime

Device.Hosts.
  HostNumberOfEntries        unsignedInt r = 0
Device.Hosts.Host.{i}.  read-only  keys=PhysAddress
  Alias                      string rw
  PhysAddress                string r
  IPAddress                  string r
  HostName                   string r
  Active                     boolean r = false
  ActiveLastChange           dateTime r = 0001-01-01T00:00:00Z
  Layer1Interface            string r
  Layer3Interface            string r
  AssociatedDevice           string r

Device.SoftwareModules.
  ExecEnvNumberOfEntries     unsignedInt r = 0
  DeploymentUnitNumberOfEntries unsignedInt r = 0
  ExecutionUnitNumberOfEntries unsignedInt r = 0
  InstallDU()                async in=URL,UUID,Username,Password,ExecutionEnvRef
  DUStateChange!             args=UUID,DeploymentUnitRef,Version,CurrentState,Resolved,ExecutionUnitRefList,StartTime,CompleteTime,OperationPerformed,FaultCode,FaultString
Device.SoftwareModules.ExecEnv.{i}.  read-only  keys=Alias  keys=Name
  Alias                      string rw
  Enable                     boolean rw = true
  Status                     string r enum=Up,Error,Disabled = Up
  Name                       string r
  Type                       string r
  Vendor                     string r
  Version                    string r
Device.SoftwareModules.DeploymentUnit.{i}.  read-only  keys=Alias  keys=UUID,Version,ExecutionEnvRef
  Alias                      string rw
  UUID                       string r
  DUID                       string r
  Name                       string r
  Status                     string r enum=Installing,Installed,Updating,Uninstalling,Uninstalled = Installed
  Resolved                   boolean r = true
  URL                        string r
  Description                string r
  Vendor                     string r
  Version                    string r
  ExecutionUnitList          string r list
  ExecutionEnvRef            string r
  Uninstall()                async
Device.SoftwareModules.ExecutionUnit.{i}.  read-only  keys=Alias  keys=EUID
  Alias                      string rw
  EUID                       string r
  Name                       string r
  ExecEnvLabel               string r
  Status                     string r enum=Idle,Starting,Active,Stopping = Idle
  RequestedState             string w enum=Idle,Active
  ExecutionFaultCode         string r enum=NoFault,FailureOnStart,FailureOnAutoStart,FailureOnStop,FailureWhileActive,DependencyFailure,UnStartable = NoFault
  Version                    string r
  ExecutionEnvRef            string r
`

// defaultValues seeds the instances of DefaultModel.
var defaultValues = map[string]string{
	"Device.DeviceInfo.FirmwareImage.1.Alias":                     "cpe-1",
	"Device.DeviceInfo.FirmwareImage.1.Name":                      "usptest-1.0.0.bin",
	"Device.DeviceInfo.FirmwareImage.1.Version":                   "1.0.0",
	"Device.DeviceInfo.FirmwareImage.1.Available":                 "true",
	"Device.DeviceInfo.FirmwareImage.1.Status":                    "Available",
	"Device.DeviceInfo.FirmwareImage.2.Alias":                     "cpe-2",
	"Device.DeviceInfo.FirmwareImage.2.Status":                    "NoImage",
	"Device.WiFi.Radio.1.Alias":                                   "cpe-1",
	"Device.WiFi.Radio.1.Name":                                    "wifi0",
	"Device.WiFi.Radio.1.SupportedFrequencyBands":                 "2.4GHz",
	"Device.WiFi.Radio.1.OperatingFrequencyBand":                  "2.4GHz",
	"Device.WiFi.Radio.1.SupportedStandards":                      "b,g,n,ax",
	"Device.WiFi.Radio.1.OperatingStandards":                      "g,n,ax",
	"Device.WiFi.Radio.1.PossibleChannels":                        "1-13",
	"Device.WiFi.Radio.1.Channel":                                 "6",
	"Device.WiFi.Radio.1.OperatingChannelBandwidth":               "20MHz",
	"Device.WiFi.Radio.2.Alias":                                   "cpe-2",
	"Device.WiFi.Radio.2.Name":                                    "wifi1",
	"Device.WiFi.Radio.2.SupportedFrequencyBands":                 "5GHz",
	"Device.WiFi.Radio.2.OperatingFrequencyBand":                  "5GHz",
	"Device.WiFi.Radio.2.SupportedStandards":                      "a,n,ac,ax",
	"Device.WiFi.Radio.2.OperatingStandards":                      "ac,ax",
	"Device.WiFi.Radio.2.PossibleChannels":                        "36,40,44,48,52,56,60,64,100,104,108,112",
	"Device.WiFi.Radio.2.Channel":                                 "36",
	"Device.WiFi.Radio.2.OperatingChannelBandwidth":               "80MHz",
	"Device.WiFi.Radio.2.Stats.Noise":                             "-92",
	"Device.WiFi.SSID.1.Alias":                                    "cpe-1",
	"Device.WiFi.SSID.1.Enable":                                   "true",
	"Device.WiFi.SSID.1.Status":                                   "Up",
	"Device.WiFi.SSID.1.Name":                                     "ssid0",
	"Device.WiFi.SSID.1.LowerLayers":                              "Device.WiFi.Radio.1",
	"Device.WiFi.SSID.1.BSSID":                                    "02:00:00:00:01:01",
	"Device.WiFi.SSID.1.MACAddress":                               "02:00:00:00:01:01",
	"Device.WiFi.SSID.1.SSID":                                     "usptest",
	"Device.WiFi.SSID.2.Alias":                                    "cpe-2",
	"Device.WiFi.SSID.2.Enable":                                   "true",
	"Device.WiFi.SSID.2.Status":                                   "Up",
	"Device.WiFi.SSID.2.Name":                                     "ssid1",
	"Device.WiFi.SSID.2.LowerLayers":                              "Device.WiFi.Radio.2",
	"Device.WiFi.SSID.2.BSSID":                                    "02:00:00:00:02:01",
	"Device.WiFi.SSID.2.MACAddress":                               "02:00:00:00:02:01",
	"Device.WiFi.SSID.2.SSID":                                     "usptest-5G",
	"Device.WiFi.AccessPoint.1.Alias":                             "cpe-1",
	"Device.WiFi.AccessPoint.1.Enable":                            "true",
	"Device.WiFi.AccessPoint.1.Status":                            "Enabled",
	"Device.WiFi.AccessPoint.1.SSIDReference":                     "Device.WiFi.SSID.1",
	"Device.WiFi.AccessPoint.1.Security.KeyPassphrase":            "correct horse battery staple",
	"Device.WiFi.AccessPoint.1.AssociatedDevice.1.MACAddress":     "02:00:00:00:aa:01",
	"Device.WiFi.AccessPoint.1.AssociatedDevice.1.SignalStrength": "-48",
	"Device.WiFi.AccessPoint.2.Alias":                             "cpe-2",
	"Device.WiFi.AccessPoint.2.Enable":                            "true",
	"Device.WiFi.AccessPoint.2.Status":                            "Enabled",
	"Device.WiFi.AccessPoint.2.SSIDReference":                     "Device.WiFi.SSID.2",
	"Device.WiFi.AccessPoint.2.Security.ModeEnabled":              "WPA3-Personal",
	"Device.IP.Interface.1.Alias":                                 "cpe-1",
	"Device.IP.Interface.1.Enable":                                "true",
	"Device.IP.Interface.1.Status":                                "Up",
	"Device.IP.Interface.1.Name":                                  "lo",
	"Device.IP.Interface.1.Type":                                  "Loopback",
	"Device.IP.Interface.1.IPv4Address.1.Enable":                  "true",
	"Device.IP.Interface.1.IPv4Address.1.Status":                  "Enabled",
	"Device.IP.Interface.1.IPv4Address.1.IPAddress":               "127.0.0.1",
	"Device.IP.Interface.1.IPv4Address.1.SubnetMask":              "255.0.0.0",
	"Device.IP.Interface.2.Alias":                                 "cpe-2",
	"Device.IP.Interface.2.Enable":                                "true",
	"Device.IP.Interface.2.Status":                                "Up",
	"Device.IP.Interface.2.Name":                                  "br-lan",
	"Device.IP.Interface.2.IPv4Address.1.Enable":                  "true",
	"Device.IP.Interface.2.IPv4Address.1.Status":                  "Enabled",
	"Device.IP.Interface.2.IPv4Address.1.IPAddress":               "192.168.1.1",
	"Device.IP.Interface.2.IPv4Address.1.SubnetMask":              "255.255.255.0",
	"Device.Hosts.Host.1.PhysAddress":                             "02:00:00:00:aa:01",
	"Device.Hosts.Host.1.IPAddress":                               "192.168.1.100",
	"Device.Hosts.Host.1.HostName":                                "laptop",
	"Device.Hosts.Host.1.Active":                                  "true",
	"Device.Hosts.Host.1.Layer1Interface":                         "Device.WiFi.SSID.1",
	"Device.Hosts.Host.1.Layer3Interface":                         "Device.IP.Interface.2",
	"Device.Hosts.Host.1.AssociatedDevice":                        "Device.WiFi.AccessPoint.1.AssociatedDevice.1",
	"Device.Hosts.Host.2.PhysAddress":                             "02:00:00:00:bb:02",
	"Device.Hosts.Host.2.IPAddress":                               "192.168.1.101",
	"Device.Hosts.Host.2.HostName":                                "printer",
	"Device.Hosts.Host.2.Layer3Interface":                         "Device.IP.Interface.2",
	"Device.SoftwareModules.ExecEnv.1.Name":                       "default",
	"Device.SoftwareModules.ExecEnv.1.Type":                       "Linux container",
	"Device.SoftwareModules.ExecEnv.1.Vendor":                     "gousp",
	"Device.SoftwareModules.ExecEnv.1.Version":                    "1.0",
}

// DefaultModel returns a fresh model seeded with a realistic TR-181
// subset:
//
//   - Device.DeviceInfo. with FirmwareImage.{i}. and its asynchronous
//     Download() and Activate() (Activate reboots with the new version);
//   - Device.LocalAgent. with Controller.{i}. (and SendOnBoardRequest()),
//     MTP.{i}., Subscription.{i}. and Request.{i}.;
//   - Device.WiFi. with Radio.{i}., SSID.{i}., AccessPoint.{i}. and the
//     asynchronous NeighboringWiFiDiagnostic();
//   - Device.IP.Interface.{i}. and the asynchronous IP.Diagnostics.IPPing();
//   - Device.Hosts.Host.{i}.;
//   - Device.SoftwareModules. with the asynchronous InstallDU();
//   - Device.Reboot() and Device.FactoryReset() (simulated: the agent
//     reconnects and sends Boot!), Device.ScheduleTimer() and
//     Device.SelfTestDiagnostics(), and the events Device.Boot!,
//     Device.LocalAgent.TransferComplete! and
//     Device.SoftwareModules.DUStateChange!.
//
// Each call returns an independent model. Models share what they have not
// changed (the schema, the command handlers, the object instances and
// their values) with one template built once per process, so that a
// process can simulate many agents: a model copies a part before changing
// it.
func DefaultModel() *Model {
	return defaultTemplate().cloneShared()
}

// defaultTemplate is the model every [DefaultModel] starts as a copy of.
var defaultTemplate = sync.OnceValue(func() *Model {
	m := buildDefaultModel()
	freeze(m.rootInst) // shared by every DefaultModel: never written again
	return m
})

// servedModel is the model served by the agent whose command is running:
// the default command handlers are shared by every copy of the template,
// and find their model through ctx (see callModel).
func servedModel(ctx context.Context) (*Model, error) {
	if m, ok := ctx.Value(modelKey{}).(*Model); ok {
		return m, nil
	}
	return nil, msg.Errorf(msg.CodeCommandFailure, "the model is not served by a started agent")
}

// modelKey carries the agent's model in its contexts.
type modelKey struct{}

// onModel adapts a Model method to a CommandFunc that runs it on the model
// of the agent calling it.
func onModel(f func(m *Model, ctx context.Context, path string, args map[string]string) (map[string]string, error)) CommandFunc {
	return func(ctx context.Context, path string, args map[string]string) (map[string]string, error) {
		m, err := servedModel(ctx)
		if err != nil {
			return nil, err
		}
		return f(m, ctx, path, args)
	}
}

func buildDefaultModel() *Model {
	m := NewModel()
	if err := m.Define(tr181); err != nil {
		panic("usptest: default schema: " + err.Error()) // a bug in this file, not an input
	}
	if err := m.Define(bulkDataSchema); err != nil {
		panic("usptest: bulk data schema: " + err.Error())
	}
	if err := defineCertificates(m); err != nil {
		panic("usptest: certificate schema: " + err.Error())
	}
	m.lock()
	if d := m.defOf(datamodel.MustParse("Device.LocalAgent.Request.{i}."), 4); d != nil {
		d.reuseNumbers = true
	}
	// TR-181 makes a Subscription's ID and Alias writeOnceReadOnly.
	if d := m.defOf(datamodel.MustParse(subscriptionPath), 4); d != nil {
		for _, n := range []string{"ID", "Alias"} {
			if p := d.param(n); p != nil {
				p.WriteOnce = true
			}
		}
	}
	m.unlock()
	if err := m.LoadValues(defaultValues); err != nil {
		panic("usptest: default values: " + err.Error())
	}
	handlers := map[string]CommandFunc{
		"Device.Reboot()": onModel(func(m *Model, ctx context.Context, _ string, _ map[string]string) (map[string]string, error) {
			return nil, m.withHost(func(h host) { h.reboot("RemoteReboot", CommandKey(ctx), false) })
		}),
		"Device.FactoryReset()": onModel(func(m *Model, ctx context.Context, _ string, _ map[string]string) (map[string]string, error) {
			return nil, m.withHost(func(h host) { h.factoryReset(CommandKey(ctx)) })
		}),
		"Device.ScheduleTimer()":                                scheduleTimer,
		"Device.SelfTestDiagnostics()":                          selfTest,
		"Device.LocalAgent.Controller.{i}.SendOnBoardRequest()": onModel((*Model).sendOnBoardRequest),
		"Device.DeviceInfo.FirmwareImage.{i}.Download()":        onModel((*Model).firmwareDownload),
		"Device.DeviceInfo.FirmwareImage.{i}.Activate()":        onModel((*Model).firmwareActivate),
		"Device.LocalAgent.Request.{i}.Cancel()": onModel(func(m *Model, _ context.Context, cmd string, _ map[string]string) (map[string]string, error) {
			var err error
			if herr := m.withHost(func(h host) { err = h.cancelRequest(instanceOf(cmd)) }); herr != nil {
				return nil, herr
			}
			return nil, err
		}),
		"Device.WiFi.NeighboringWiFiDiagnostic()":               neighboringWiFi,
		"Device.IP.Diagnostics.IPPing()":                        onModel((*Model).ipPing),
		"Device.SoftwareModules.InstallDU()":                    onModel((*Model).installDU),
		"Device.SoftwareModules.DeploymentUnit.{i}.Uninstall()": onModel((*Model).uninstallDU),
		"Device.BulkData.Profile.{i}.ForceCollection()": onModel(func(m *Model, _ context.Context, cmd string, _ map[string]string) (map[string]string, error) {
			return nil, m.withHost(func(h host) {
				if a, ok := h.(*Agent); ok {
					a.forceCollection(instanceOf(cmd))
				}
			})
		}),
	}
	for p, h := range handlers {
		if err := m.HandleCommand(p, h); err != nil {
			panic("usptest: default handler: " + err.Error())
		}
	}
	checks := map[string]func(string, map[string]string) error{
		"Device.ScheduleTimer()": func(_ string, args map[string]string) error {
			if _, err := datamodel.ParseUnsignedInt(args["DelaySeconds"]); err != nil {
				return argError("DelaySeconds argument missing or not an unsignedInt")
			}
			return nil
		},
		"Device.IP.Diagnostics.IPPing()": func(_ string, args map[string]string) error {
			if args["Host"] == "" {
				return argError("Host argument not specified")
			}
			return nil
		},
		"Device.DeviceInfo.FirmwareImage.{i}.Download()": func(_ string, args map[string]string) error {
			if args["URL"] == "" {
				return argError("URL argument not specified")
			}
			return nil
		},
		"Device.SoftwareModules.InstallDU()": func(_ string, args map[string]string) error {
			if args["URL"] == "" {
				return argError("URL argument not specified")
			}
			return nil
		},
	}
	m.lock()
	for p, c := range checks {
		pp := datamodel.MustParse(p)
		m.defOf(pp, pp.Len()-1).command(pp.Leaf()).Check = c
	}
	m.unlock()
	return m
}

// withHost runs f with the agent serving the model, if any.
func (m *Model) withHost(f func(h host)) error {
	m.mu.RLock()
	h := m.host
	m.mu.RUnlock()
	if h == nil {
		return msg.Errorf(msg.CodeCommandFailure, "the model is not served by a started agent")
	}
	f(h)
	return nil
}

// wait sleeps for d or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func scheduleTimer(ctx context.Context, _ string, args map[string]string) (map[string]string, error) {
	secs, _ := datamodel.ParseUnsignedInt(args["DelaySeconds"])
	return nil, wait(ctx, time.Duration(secs)*time.Second)
}

func selfTest(context.Context, string, map[string]string) (map[string]string, error) {
	return map[string]string{"Results": "PASS"}, nil
}

func (m *Model) sendOnBoardRequest(_ context.Context, cmd string, _ map[string]string) (map[string]string, error) {
	ctrl, _ := splitLeafText(cmd)
	var err error
	if herr := m.withHost(func(h host) { err = h.onBoard(ctrl) }); herr != nil {
		return nil, herr
	}
	return nil, err
}

// instanceOf returns the object path of a command path ("Device.X.1.Y()"
// gives "Device.X.1.").
func instanceOf(cmd string) string {
	obj, _ := splitLeafText(cmd)
	return obj
}

func (m *Model) firmwareDownload(ctx context.Context, cmd string, args map[string]string) (map[string]string, error) {
	img := instanceOf(cmd)
	start := m.now()
	if err := m.Set(img+"Status", "Downloading"); err != nil {
		return nil, err
	}
	if err := wait(ctx, 5*time.Millisecond); err != nil {
		return nil, err
	}
	name := path.Base(args["URL"])
	version := strings.TrimSuffix(name, path.Ext(name))
	if i := strings.LastIndexByte(version, '-'); i >= 0 {
		version = version[i+1:]
	}
	var fault *msg.Error
	status := "DownloadFailed"
	if strings.Contains(args["URL"], "fail") {
		fault = msg.Errorf(msg.Code(7200), "download of %s failed", args["URL"])
	} else if err := checkImage(args); err != nil {
		fault, status = err, "ValidationFailed"
	}
	m.write(func() {
		o := m.instByPath(img)
		if o == nil {
			fault = msg.Errorf(msg.CodeCommandFailure, "firmware image %s is gone", img)
			return
		}
		set := func(p, v string) { m.setValue(o, o.def.param(p), v) }
		if fault != nil {
			set("Available", "false")
			set("Status", status)
			return
		}
		set("Name", name)
		set("Version", version)
		set("Available", "true")
		set("Status", "Available")
	})
	transfer := map[string]string{
		"Command": cmd, "CommandKey": CommandKey(ctx), "Requestor": Originator(ctx), "TransferType": "Download",
		"Affected": strings.TrimSuffix(img, "."), "TransferURL": args["URL"], "StartTime": start,
		"CompleteTime": m.now(), "FaultCode": "0", "FaultString": "",
	}
	if fault != nil {
		transfer["FaultCode"], transfer["FaultString"] = strconv.Itoa(int(fault.Code)), fault.Message
	}
	m.write(func() {
		m.emit(change{kind: chEvent, path: "Device.LocalAgent.TransferComplete!", keys: transfer})
	})
	if fault != nil {
		return nil, fault
	}
	if auto, _ := datamodel.ParseBool(args["AutoActivate"]); auto {
		return m.firmwareActivate(ctx, img+"Activate()", nil)
	}
	return nil, nil
}

// checkImage verifies a downloaded image against the Download()
// arguments CheckSumAlgorithm and CheckSum. usptest downloads nothing: the
// content of its simulated image is the URL itself, so a checksum is that
// of the URL's bytes.
func checkImage(args map[string]string) *msg.Error {
	want := strings.ToLower(args["CheckSum"])
	if want == "" {
		return nil
	}
	var h hash.Hash
	switch args["CheckSumAlgorithm"] {
	case "SHA-1":
		h = sha1.New()
	case "SHA-224":
		h = sha256.New224()
	case "SHA-256", "":
		h = sha256.New()
	case "SHA-384":
		h = sha512.New384()
	case "SHA-512":
		h = sha512.New()
	default:
		return msg.Errorf(msg.Code(7200), "unsupported CheckSumAlgorithm %q", args["CheckSumAlgorithm"])
	}
	h.Write([]byte(args["URL"]))
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return msg.Errorf(msg.Code(7200), "image from %s failed validation: %s checksum %s, expected %s",
			args["URL"], args["CheckSumAlgorithm"], got, want)
	}
	return nil
}

// activationDelay reads an Activate() TimeWindow: the image is activated
// when the first window opens (Start seconds from now) for the modes that
// need no one's consent; usptest is always idle.
func activationDelay(args map[string]string) (time.Duration, error) {
	start, ok := args["TimeWindow.1.Start"]
	if !ok {
		return 0, nil
	}
	secs, err := datamodel.ParseUnsignedInt(start)
	if err != nil {
		return 0, argError("TimeWindow.1.Start must be an unsignedInt")
	}
	if end, ok := args["TimeWindow.1.End"]; ok {
		e, err := datamodel.ParseUnsignedInt(end)
		if err != nil || e < secs {
			return 0, argError("TimeWindow.1.End must be an unsignedInt not below Start")
		}
	}
	switch mode := args["TimeWindow.1.Mode"]; mode {
	case "", "AnyTime", "Immediately", "WhenIdle":
	case "ConfirmationNeeded":
		return 0, msg.Errorf(msg.CodeCommandFailure, "TimeWindow mode ConfirmationNeeded: usptest has no user to ask")
	default:
		return 0, argError("TimeWindow.1.Mode %q", mode)
	}
	return time.Duration(secs) * time.Second, nil
}

func (m *Model) firmwareActivate(ctx context.Context, cmd string, args map[string]string) (map[string]string, error) {
	img := instanceOf(cmd)
	delay, err := activationDelay(args)
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	o := m.instByPath(img)
	ready := o != nil && o.val("Status") == "Available"
	m.mu.RUnlock()
	if !ready {
		return nil, msg.Errorf(msg.CodeCommandFailure, "firmware image %s is not available", img)
	}
	if err := wait(ctx, delay); err != nil {
		return nil, msg.Errorf(msg.CodeCommandCanceled, "activation of %s canceled before its time window", img)
	}
	var fail *msg.Error
	m.write(func() {
		o := m.instByPath(img)
		if o == nil || o.val("Status") != "Available" {
			fail = msg.Errorf(msg.CodeCommandFailure, "firmware image %s is not available", img)
			return
		}
		info := m.instByPath("Device.DeviceInfo.")
		ref := strings.TrimSuffix(img, ".")
		m.setValue(info, info.def.param("ActiveFirmwareImage"), ref)
		m.setValue(info, info.def.param("BootFirmwareImage"), ref)
		m.setValue(info, info.def.param("SoftwareVersion"), o.val("Version"))
	})
	if fail != nil {
		return nil, fail
	}
	return nil, m.withHost(func(h host) { h.reboot("RemoteReboot", CommandKey(ctx), true) })
}

func neighboringWiFi(ctx context.Context, _ string, _ map[string]string) (map[string]string, error) {
	if err := wait(ctx, 5*time.Millisecond); err != nil {
		return nil, err
	}
	return map[string]string{
		"Status":                          "Complete",
		"Result.1.Radio":                  "Device.WiFi.Radio.1",
		"Result.1.SSID":                   "neighbour",
		"Result.1.BSSID":                  "02:00:00:00:cc:01",
		"Result.1.Channel":                "11",
		"Result.1.SignalStrength":         "-71",
		"Result.1.OperatingFrequencyBand": "2.4GHz",
		"Result.1.Noise":                  "-95",
		"Result.2.Radio":                  "Device.WiFi.Radio.2",
		"Result.2.SSID":                   "neighbour-5G",
		"Result.2.BSSID":                  "02:00:00:00:cc:02",
		"Result.2.Channel":                "44",
		"Result.2.SignalStrength":         "-80",
		"Result.2.OperatingFrequencyBand": "5GHz",
		"Result.2.Noise":                  "-92",
	}, nil
}

func (m *Model) ipPing(ctx context.Context, _ string, args map[string]string) (map[string]string, error) {
	n := uint32(3)
	if s := args["NumberOfRepetitions"]; s != "" {
		v, err := datamodel.ParseUnsignedInt(s)
		if err != nil || v == 0 {
			return nil, argError("NumberOfRepetitions must be a positive unsignedInt")
		}
		n = v
	}
	if err := wait(ctx, 5*time.Millisecond); err != nil {
		return nil, err
	}
	host := args["Host"]
	if strings.HasSuffix(host, ".invalid") {
		return map[string]string{"Status": "Error_CannotResolveHostName"}, nil
	}
	used, _ := m.Get("Device.IP.Interface.2.IPv4Address.1.IPAddress")
	if host == "localhost" || strings.HasPrefix(host, "127.") {
		used = "127.0.0.1"
	}
	return map[string]string{
		"Status": "Complete", "IPAddressUsed": used,
		"SuccessCount": strconv.FormatUint(uint64(n), 10), "FailureCount": "0",
		"AverageResponseTime": "1", "MinimumResponseTime": "1", "MaximumResponseTime": "2",
	}, nil
}

func (m *Model) installDU(ctx context.Context, _ string, args map[string]string) (map[string]string, error) {
	start := m.now()
	if err := wait(ctx, 5*time.Millisecond); err != nil {
		return nil, err
	}
	url := args["URL"]
	name := strings.TrimSuffix(path.Base(url), path.Ext(url))
	version := "1.0"
	if i := strings.LastIndexByte(name, '-'); i >= 0 {
		name, version = name[:i], name[i+1:]
	}
	env := args["ExecutionEnvRef"]
	if env == "" {
		env = "Device.SoftwareModules.ExecEnv.1"
	}
	var fault *msg.Error
	var du, eu string
	m.write(func() {
		sm := m.instByPath("Device.SoftwareModules.")
		if m.instByPath(env) == nil {
			fault = msg.Errorf(msg.CodeInvalidValue, "execution environment %s does not exist", env)
			return
		}
		dut, eut := sm.tables.get("DeploymentUnit"), sm.tables.get("ExecutionUnit")
		uuid := args["UUID"]
		if uuid == "" {
			uuid = fmt.Sprintf("00000000-0000-5000-8000-%012d", dut.next)
		}
		euo := m.create(eut, 0, map[string]string{
			"EUID": fmt.Sprintf("eu-%d", eut.next), "Name": name, "ExecEnvLabel": name,
			"Version": version, "ExecutionEnvRef": env,
		})
		eu = refPath(euo)
		values := map[string]string{
			"UUID": uuid, "DUID": fmt.Sprintf("du-%d", dut.next), "Name": name, "URL": url, "Version": version,
			"Vendor": "gousp", "ExecutionUnitList": eu, "ExecutionEnvRef": env, "Status": "Installed",
		}
		if err := m.checkUnique(dut, nil, dut.next, values); err != nil {
			m.remove(euo)
			fault = &msg.Error{Code: msg.CodeDuplicateKey, Message: "deployment unit already installed"}
			return
		}
		du = refPath(m.create(dut, 0, values))
	})
	state := map[string]string{
		"UUID": args["UUID"], "DeploymentUnitRef": du, "Version": version, "CurrentState": "Installed",
		"Resolved": "true", "ExecutionUnitRefList": eu, "StartTime": start, "CompleteTime": m.now(),
		"OperationPerformed": "Install", "FaultCode": "0", "FaultString": "",
	}
	if fault != nil {
		state["CurrentState"], state["Resolved"] = "Failed", "false"
		state["FaultCode"], state["FaultString"] = strconv.Itoa(int(fault.Code)), fault.Message
	}
	m.write(func() {
		m.emit(change{kind: chEvent, path: "Device.SoftwareModules.DUStateChange!", keys: state})
	})
	if fault != nil {
		return nil, fault
	}
	return nil, nil
}

func (m *Model) uninstallDU(ctx context.Context, cmd string, _ map[string]string) (map[string]string, error) {
	if err := wait(ctx, 5*time.Millisecond); err != nil {
		return nil, err
	}
	du := instanceOf(cmd)
	var err *msg.Error
	m.write(func() {
		o := m.instByPath(du)
		if o == nil {
			err = msg.Errorf(msg.CodeCommandFailure, "deployment unit %s is gone", du)
			return
		}
		for _, eu := range datamodel.ParseList(o.val("ExecutionUnitList")) {
			if e := m.instByPath(eu); e != nil && e.def.multi {
				m.remove(e)
			}
		}
		m.remove(o)
	})
	if err != nil {
		return nil, err
	}
	return nil, nil
}

// now formats the model's clock as a TR-106 dateTime.
func (m *Model) now() string {
	m.mu.RLock()
	clock := m.clock
	m.mu.RUnlock()
	s, err := datamodel.FormatDateTime(clock().UTC().Truncate(time.Second))
	if err != nil {
		return datamodel.UnknownTime.Format(time.RFC3339)
	}
	return s
}

package conformance

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gousp/gousp/msg"
)

// Env is what the kit learns about the agent before the cases run: its
// supported data model, the Controller instance that stands for the test
// equipment, and the TP-469 features it supports.
type Env struct {
	// AgentID is the agent's Device.LocalAgent.EndpointID.
	AgentID string
	// Objects is the supported data model by object path ("{i}" for
	// instance numbers); nil when it could not be read.
	Objects map[string]msg.SupportedObject
	// DMErr says why the supported data model could not be read.
	DMErr error
	// Controller is the instance path of the Device.LocalAgent.Controller
	// entry whose EndpointID is the equipment's ("...Controller.1."), or
	// empty when the agent has none.
	Controller string
	// Features says which TP-469 features the agent supports, and
	// FeatureSource where each answer comes from ("data model", "config",
	// "binding").
	Features      map[Feature]bool
	FeatureSource map[Feature]string
}

// Supports reports whether the agent supports a feature.
func (e *Env) Supports(f Feature) bool { return e.Features[f] }

// Object returns the supported object with that path ("{i}" form).
func (e *Env) Object(path string) (msg.SupportedObject, bool) {
	o, ok := e.Objects[path]
	return o, ok
}

// HasParam reports whether the data model has the parameter, given as
// "Device.LocalAgent.Subscription.{i}.NotifRetry".
func (e *Env) HasParam(path string) bool {
	obj, name := splitLeaf(path)
	o, ok := e.Objects[obj]
	return ok && slices.ContainsFunc(o.Params, func(p msg.SupportedParam) bool { return p.Name == name })
}

// Param returns the supported parameter.
func (e *Env) Param(path string) (msg.SupportedParam, bool) {
	obj, name := splitLeaf(path)
	o, ok := e.Objects[obj]
	if !ok {
		return msg.SupportedParam{}, false
	}
	i := slices.IndexFunc(o.Params, func(p msg.SupportedParam) bool { return p.Name == name })
	if i < 0 {
		return msg.SupportedParam{}, false
	}
	return o.Params[i], true
}

// Command returns the supported command, given as "Device.Reboot()".
func (e *Env) Command(path string) (msg.SupportedCommand, bool) {
	obj, name := splitLeaf(path)
	o, ok := e.Objects[obj]
	if !ok {
		return msg.SupportedCommand{}, false
	}
	i := slices.IndexFunc(o.Commands, func(c msg.SupportedCommand) bool { return c.Name == name })
	if i < 0 {
		return msg.SupportedCommand{}, false
	}
	return o.Commands[i], true
}

// HasEvent reports whether the data model has the event ("Device.Boot!").
func (e *Env) HasEvent(path string) bool {
	obj, name := splitLeaf(path)
	o, ok := e.Objects[obj]
	return ok && slices.ContainsFunc(o.Events, func(ev msg.SupportedEvent) bool { return ev.Name == name })
}

// splitLeaf splits "A.B.{i}.Name" into "A.B.{i}." and "Name".
func splitLeaf(path string) (string, string) {
	i := strings.LastIndexByte(path, '.')
	return path[:i+1], path[i+1:]
}

// prepare reads what the cases need from the agent. Failures are kept in
// the Env: cases that need what is missing are skipped with the reason.
func prepare(ctx context.Context, eq *Equipment, cfg Config) *Env {
	env := &Env{Features: map[Feature]bool{}, FeatureSource: map[Feature]string{}}
	ex := eq.Send(ctx, msg.GetSupportedDM{Paths: []string{"Device."}, ReturnCommands: true, ReturnEvents: true,
		ReturnParams: true, ReturnUniqueKeySets: true})
	if ex.Err != nil {
		env.DMErr = ex.Err
	} else if r, err := msg.ParseGetSupportedDMResp(ex.Response); err != nil {
		env.DMErr = err
	} else if err := r.Err(); err != nil {
		env.DMErr = err
	} else {
		env.Objects = map[string]msg.SupportedObject{}
		for _, res := range r.Results {
			for _, o := range res.Objects {
				env.Objects[o.Path] = o
			}
		}
	}
	if ex := eq.Send(ctx, msg.Get{Paths: []string{"Device.LocalAgent.EndpointID",
		"Device.LocalAgent.Controller.*.EndpointID"}}); ex.Err == nil {
		if r, err := msg.ParseGetResp(ex.Response); err == nil {
			for p, v := range r.Values() {
				switch {
				case p == "Device.LocalAgent.EndpointID":
					env.AgentID = v
				case strings.HasSuffix(p, ".EndpointID") && v == eq.ControllerID():
					env.Controller = strings.TrimSuffix(p, "EndpointID")
				}
			}
		}
	}
	env.detect()
	for k, v := range cfg.Features {
		n, _ := strconv.Atoi(k)
		env.Features[Feature(n)] = v
		env.FeatureSource[Feature(n)] = "config"
	}
	return env
}

// detect derives TP-469 features from the supported data model.
func (e *Env) detect() {
	if e.Objects == nil {
		return
	}
	set := func(f Feature, v bool) {
		e.Features[f] = v
		e.FeatureSource[f] = "data model"
	}
	var anyCmd, cmdArgs, async, eventArgs, nested bool
	for path, o := range e.Objects {
		for _, c := range o.Commands {
			anyCmd = true
			cmdArgs = cmdArgs || len(c.Inputs) > 0
			async = async || c.Type == msg.CmdAsync
		}
		for _, ev := range o.Events {
			eventArgs = eventArgs || len(ev.Args) > 0
		}
		if o.MultiInstance && strings.Count(path, "{i}") >= 2 {
			nested = true
		}
	}
	ctrl, hasCtrl := e.Objects["Device.LocalAgent.Controller.{i}."]
	_, cancel := e.Command("Device.LocalAgent.Request.{i}.Cancel()")
	_, download := e.Command("Device.DeviceInfo.FirmwareImage.{i}.Download()")
	_, activate := e.Command("Device.DeviceInfo.FirmwareImage.{i}.Activate()")
	_, onboard := e.Command("Device.LocalAgent.Controller.{i}.SendOnBoardRequest()")
	_, timer := e.Command("Device.ScheduleTimer()")
	_, reboot := e.Command("Device.Reboot()")
	_, addCert := e.Command("Device.LocalAgent.AddCertificate()")
	_, trust := e.Objects["Device.LocalAgent.ControllerTrust."]
	perm, hasPerm := e.Objects["Device.LocalAgent.ControllerTrust.Role.{i}.Permission.{i}."]
	set(FeatCommand, anyCmd)
	set(FeatCommandWithArgs, cmdArgs)
	set(FeatCommandInputArgs, cmdArgs)
	set(FeatAsyncCommand, async)
	set(FeatEventWithArgs, eventArgs)
	set(FeatNestedMultiInstance, nested)
	set(FeatNotifExpiration, e.HasParam("Device.LocalAgent.Subscription.{i}.NotifExpiration"))
	set(FeatTimeToLive, e.HasParam("Device.LocalAgent.Subscription.{i}.TimeToLive"))
	set(FeatControllerProfile, hasCtrl && e.HasParam("Device.LocalAgent.Controller.{i}.PeriodicNotifTime"))
	set(FeatControllerWritable, hasCtrl && (ctrl.Access == msg.ObjAddDelete || ctrl.Access == msg.ObjAddOnly))
	set(FeatSendOnBoardRequest, onboard)
	set(FeatScheduleTimer, timer)
	set(FeatReboot, reboot)
	set(FeatControllerTrust, trust)
	set(FeatControllerTrustWrite, hasPerm && (perm.Access == msg.ObjAddDelete || perm.Access == msg.ObjAddOnly))
	set(FeatAddCertificate, addCert)
	set(FeatFirmware, download)
	set(FeatFirmwareActivate, download && activate)
	set(FeatFirmwareCancel, download && cancel)
	set(FeatBootFirmwareImage, e.HasParam("Device.DeviceInfo.BootFirmwareImage"))
	set(FeatTriggerAction, e.HasParam("Device.LocalAgent.Subscription.{i}.TriggerAction") &&
		e.HasParam("Device.LocalAgent.Subscription.{i}.TriggerConfigSettings"))
	set(FeatOnBoarding, e.HasParam("Device.LocalAgent.Controller.{i}.OnBoardingComplete") &&
		e.HasParam("Device.LocalAgent.Controller.{i}.OnBoardingRestartTime"))
}

// missing returns why a case does not apply, or "".
func (e *Env) missing(c *Case) string {
	var why []string
	for _, f := range c.Features {
		if e.Features[f] {
			continue
		}
		src := e.FeatureSource[f]
		switch {
		case src != "":
			why = append(why, fmt.Sprintf("%s not supported (per %s)", f, src))
		case e.DMErr != nil && e.Objects == nil:
			why = append(why, fmt.Sprintf("%s unknown: the supported data model could not be read (%v)", f, e.DMErr))
		default:
			why = append(why, fmt.Sprintf("%s not declared (set features.%d in the configuration)", f, int(f)))
		}
	}
	return strings.Join(why, "; ")
}

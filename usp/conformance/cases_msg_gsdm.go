package conformance

import (
	"slices"
	"strings"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/record"
)

// Section 1: GetSupportedDM (1.72-1.77, 1.97-1.99, 1.105-1.107) and
// GetSupportedProtocol (1.80).

func init() {
	register(
		&Case{ID: "1.72", Title: "GetSupportedDM using a single object, first_level_only false, all options", Run: run1_72},
		&Case{ID: "1.73", Title: "GetSupportedDM using a single object, first_level_only true, all options", Run: gsdmFirstLevel(true, "Device.LocalAgent.")},
		&Case{ID: "1.74", Title: "GetSupportedDM using a single object, first_level_only true, no options", Run: gsdmFirstLevel(false, "Device.LocalAgent.")},
		&Case{ID: "1.75", Title: "GetSupportedDM using multiple objects, first_level_only true, all options", Run: gsdmFirstLevel(true, "Device.LocalAgent.Controller.", "Device.LocalAgent.MTP.")},
		&Case{ID: "1.76", Title: "GetSupportedDM on root object, all options", Run: run1_76},
		&Case{ID: "1.77", Title: "GetSupportedDM on unsupported object", Run: run1_77},
		&Case{ID: "1.80", Title: "GetSupportedProtocol", Run: run1_80},
		&Case{ID: "1.97", Title: "GetSupportedDM on root object, commands", Features: []Feature{FeatCommandInputArgs}, Run: run1_97},
		&Case{ID: "1.98", Title: "GetSupportedDM on root object, events", Features: []Feature{FeatEventWithArgs}, Run: run1_98},
		&Case{ID: "1.99", Title: "GetSupportedDM, unique_key_sets", Run: run1_99},
		&Case{ID: "1.105", Title: "GetSupportedDM on a Command", Features: []Feature{FeatCommand}, Run: gsdmElement("command")},
		&Case{ID: "1.106", Title: "GetSupportedDM on an Event", Features: []Feature{FeatCommand}, Run: gsdmElement("event")},
		&Case{ID: "1.107", Title: "GetSupportedDM on a Parameter", Run: gsdmElement("param")},
	)
}

var allOptions = msg.GetSupportedDM{ReturnCommands: true, ReturnEvents: true, ReturnParams: true, ReturnUniqueKeySets: true}

func gsdmResults(ex *Exchange) []*uspmsg.GetSupportedDMResp_RequestedObjectResult {
	return ex.Response.GetBody().GetResponse().GetGetSupportedDmResp().GetReqObjResults()
}

// supported collects the supported objects of the results by path.
func supported(res []*uspmsg.GetSupportedDMResp_RequestedObjectResult) map[string]*uspmsg.GetSupportedDMResp_SupportedObjectResult {
	out := map[string]*uspmsg.GetSupportedDMResp_SupportedObjectResult{}
	for _, r := range res {
		for _, o := range r.GetSupportedObjs() {
			out[o.GetSupportedObjPath()] = o
		}
	}
	return out
}

func hasContent(o *uspmsg.GetSupportedDMResp_SupportedObjectResult) bool {
	return len(o.GetSupportedParams())+len(o.GetSupportedCommands())+len(o.GetSupportedEvents())+len(o.GetUniqueKeySets()) > 0
}

// checkParams, checkCommands, checkEvents and checkKeys check the fields
// of supported elements "with valid information".
func checkParams(c *Metric, objs map[string]*uspmsg.GetSupportedDMResp_SupportedObjectResult) {
	for path, o := range objs {
		for _, p := range o.GetSupportedParams() {
			c.Expect(p.GetParamName() != "" && !strings.ContainsAny(p.GetParamName(), ".()!"), "%s: param_name %q", path, p.GetParamName())
			c.Expect(p.GetAccess() <= uspmsg.GetSupportedDMResp_PARAM_WRITE_ONLY, "%s%s: access %v", path, p.GetParamName(), p.GetAccess())
			c.Expect(p.GetValueType() != uspmsg.GetSupportedDMResp_PARAM_UNKNOWN && p.GetValueType() <= uspmsg.GetSupportedDMResp_PARAM_UNSIGNED_LONG,
				"%s%s: value_type %v", path, p.GetParamName(), p.GetValueType())
			c.Expect(p.GetValueChange() == uspmsg.GetSupportedDMResp_VALUE_CHANGE_ALLOWED || p.GetValueChange() == uspmsg.GetSupportedDMResp_VALUE_CHANGE_WILL_IGNORE,
				"%s%s: value_change %v", path, p.GetParamName(), p.GetValueChange())
		}
	}
}

func relative(names []string) bool {
	return !slices.ContainsFunc(names, func(n string) bool { return n == "" || strings.HasPrefix(n, "Device.") })
}

func checkCommands(c *Metric, objs map[string]*uspmsg.GetSupportedDMResp_SupportedObjectResult) {
	for path, o := range objs {
		for _, cmd := range o.GetSupportedCommands() {
			c.Expect(strings.HasSuffix(cmd.GetCommandName(), "()"), "%s: command_name %q", path, cmd.GetCommandName())
			c.Expect(cmd.GetCommandType() == uspmsg.GetSupportedDMResp_CMD_SYNC || cmd.GetCommandType() == uspmsg.GetSupportedDMResp_CMD_ASYNC,
				"%s%s: command_type %v", path, cmd.GetCommandName(), cmd.GetCommandType())
			c.Expect(relative(cmd.GetInputArgNames()) && relative(cmd.GetOutputArgNames()), "%s%s: argument names are not relative paths", path, cmd.GetCommandName())
		}
	}
}

func checkEvents(c *Metric, objs map[string]*uspmsg.GetSupportedDMResp_SupportedObjectResult) {
	for path, o := range objs {
		for _, ev := range o.GetSupportedEvents() {
			c.Expect(strings.HasSuffix(ev.GetEventName(), "!"), "%s: event_name %q", path, ev.GetEventName())
			c.Expect(relative(ev.GetArgNames()), "%s%s: argument names are not relative paths", path, ev.GetEventName())
		}
	}
}

func checkKeys(c *Metric, objs map[string]*uspmsg.GetSupportedDMResp_SupportedObjectResult) {
	for path, o := range objs {
		c.Expect(len(o.GetUniqueKeySets()) == 0 || o.GetIsMultiInstance(), "%s: unique_key_sets on a single-instance object", path)
		for _, ks := range o.GetUniqueKeySets() {
			c.Expect(len(ks.GetKeyNames()) > 0, "%s: a unique key set without key_names", path)
			for _, k := range ks.GetKeyNames() {
				known := slices.ContainsFunc(o.GetSupportedParams(), func(p *uspmsg.GetSupportedDMResp_SupportedParamResult) bool { return p.GetParamName() == k })
				c.Expect(relative([]string{k}) && (known || len(o.GetSupportedParams()) == 0), "%s: key %q is not a parameter of the object", path, k)
			}
		}
	}
}

func checkElements(t *T, first int, objs map[string]*uspmsg.GetSupportedDMResp_SupportedObjectResult) {
	c := t.Metric(first, "each SupportedParamResult has param_name, access, value_type and value_change with valid values")
	checkParams(c, objs)
	c.End()
	c = t.Metric(first+1, "each SupportedCommandResult has command_name, command_type and relative input and output argument names")
	checkCommands(c, objs)
	c.End()
	c = t.Metric(first+2, "each SupportedEventResult has event_name and relative argument names")
	checkEvents(c, objs)
	c.End()
	c = t.Metric(first+3, "each unique key set has key_names naming parameters of its multi-instance object")
	checkKeys(c, objs)
	c.End()
}

// under lists the paths of the kit's copy of the data model below prefix.
func under(t *T, prefix string) []string {
	var out []string
	for p := range t.env.Objects {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func run1_72(t *T) {
	req := allOptions
	req.Paths = []string{"Device.LocalAgent."}
	ex := t.Send(req)
	Expect[*msg.GetSupportedDMResp](t, 1, ex)
	res := gsdmResults(ex)
	objs := supported(res)
	c := t.Metric(2, "the result has Device.LocalAgent. and every object below it with its parameters, events, commands and unique key sets")
	if c.Expect(len(res) == 1 && res[0].GetErrCode() == 0, "%d req_obj_results (error %d)", len(res), res[0].GetErrCode()) {
		c.Expect(objs["Device.LocalAgent."] != nil && hasContent(objs["Device.LocalAgent."]), "Device.LocalAgent. missing or empty")
		for _, p := range under(t, "Device.LocalAgent.") {
			o, ok := objs[p]
			if !c.Expect(ok, "%s is missing (the agent lists it under Device.)", p) {
				continue
			}
			want := t.env.Objects[p]
			c.Expect(len(o.GetSupportedParams()) == len(want.Params) && len(o.GetSupportedCommands()) == len(want.Commands) &&
				len(o.GetSupportedEvents()) == len(want.Events), "%s lists %d/%d/%d parameters/commands/events, under Device. %d/%d/%d", p,
				len(o.GetSupportedParams()), len(o.GetSupportedCommands()), len(o.GetSupportedEvents()), len(want.Params), len(want.Commands), len(want.Events))
		}
	}
	c.End()
	checkElements(t, 3, objs)
}

// children returns the immediate child objects of obj in the kit's copy
// of the data model ("Controller.{i}." is a child of "LocalAgent.").
func children(t *T, obj string) []string {
	var out []string
	for _, p := range under(t, obj) {
		rest := strings.TrimSuffix(strings.TrimPrefix(p, obj), "{i}.")
		if rest != "" && strings.Count(rest, ".") == 1 {
			out = append(out, p)
		}
	}
	return out
}

// gsdmFirstLevel runs 1.73 (all options), 1.74 (none) and 1.75.
func gsdmFirstLevel(options bool, paths ...string) func(*T) {
	return func(t *T) {
		req := msg.GetSupportedDM{Paths: paths, FirstLevelOnly: true}
		if options {
			req = allOptions
			req.Paths, req.FirstLevelOnly = paths, true
		}
		ex := t.Send(req)
		Expect[*msg.GetSupportedDMResp](t, 0, ex)
		res := gsdmResults(ex)
		objs := supported(res)
		// The requested object's own entry: "Device.LocalAgent." or
		// "Device.LocalAgent.Controller.{i}.".
		own := map[string]bool{}
		c := t.Metric(1, "the GetSupportedDMResp has the requested objects and each of their immediate child objects")
		c.Expect(len(res) == len(paths), "%d req_obj_results for %d paths", len(res), len(paths))
		for _, p := range paths {
			self := p
			if _, ok := t.env.Objects[p+"{i}."]; ok {
				self = p + "{i}."
			}
			own[self] = true
			c.Expect(objs[self] != nil, "%s is missing", self)
			for _, ch := range children(t, self) {
				c.Expect(objs[ch] != nil, "child %s is missing", ch)
			}
		}
		c.End()
		if !options {
			c = t.Metric(2, "no result has commands, events, parameters or unique key sets")
			for p, o := range objs {
				c.Expect(!hasContent(o), "%s has content", p)
			}
			c.End()
			return
		}
		c = t.Metric(2, "only the requested objects have parameters, events, commands and unique key sets")
		for p, o := range objs {
			if !own[p] {
				c.Expect(!hasContent(o), "child %s has content", p)
			}
		}
		c.End()
		checkElements(t, 3, objs)
		if len(paths) == 1 {
			o := objs["Device.LocalAgent."]
			t.Check(6, "Device.LocalAgent. has no unique key sets (single-instance object)", o != nil && len(o.GetUniqueKeySets()) == 0, "unique_key_sets %v", o.GetUniqueKeySets())
		}
	}
}

func run1_76(t *T) {
	req := allOptions
	req.Paths = []string{"Device."}
	ex := t.Send(req)
	Expect[*msg.GetSupportedDMResp](t, 0, ex)
	res := gsdmResults(ex)
	objs := supported(res)
	c := t.Metric(1, "the EUT sends a GetSupportedDMResp with its entire supported data model, with commands, parameters, events and unique key sets")
	c.Expect(len(res) >= 1, "no req_obj_results")
	for _, r := range res {
		c.Expect(r.GetErrCode() == 0, "%s: error %d", r.GetReqObjPath(), r.GetErrCode())
	}
	c.Expect(objs["Device."] != nil && objs["Device.LocalAgent."] != nil && objs["Device.LocalAgent.Subscription.{i}."] != nil, "Device., Device.LocalAgent. or its Subscription table is missing")
	var keys bool
	for _, o := range objs {
		keys = keys || len(o.GetUniqueKeySets()) > 0
	}
	c.Expect(keys, "no unique key sets at all")
	c.End()
	c = t.Metric(2, "each SupportedParamResult has param_name, access, value_type and value_change with valid values")
	checkParams(c, objs)
	c.End()
	c = t.Metric(3, "each SupportedCommandResult has command_name, command_type and relative argument names")
	checkCommands(c, objs)
	c.End()
	c = t.Metric(4, "each SupportedEventResult has event_name and relative argument names")
	checkEvents(c, objs)
	c.End()
	c = t.Metric(5, "each unique key set has key_names naming parameters of its multi-instance object")
	checkKeys(c, objs)
	c.End()
}

func run1_77(t *T) {
	req := allOptions
	req.Paths = []string{"Device.LocalAgent.UnsupportedObject."}
	ex := t.Send(req)
	Expect[*msg.GetSupportedDMResp](t, 0, ex)
	res := gsdmResults(ex)
	c := t.Metric(1, "the GetSupportedDMResp has a single req_obj_results with an error code")
	if c.Expect(len(res) == 1, "%d req_obj_results", len(res)) {
		c.Expect(res[0].GetErrCode() != 0, "no error code")
	}
	c.End()
}

func run1_80(t *T) {
	ex := t.Send(msg.GetSupportedProtocol{Versions: "1.0,1.1,1.2,1.3,1.4"})
	r := Expect[*msg.GetSupportedProtocolResp](t, 1, ex)
	vs := msg.VersionList(r.Versions)
	c := t.Metric(2, "agent_supported_protocol_versions is a comma-separated list of USP versions")
	c.Expect(len(vs) > 0, "empty list %q", r.Versions)
	for _, v := range vs {
		c.Expect(record.ValidVersion(v), "%q is not a version", v)
	}
	c.End()
}

func run1_97(t *T) {
	ex := t.Send(msg.GetSupportedDM{Paths: []string{"Device."}, ReturnCommands: true})
	Expect[*msg.GetSupportedDMResp](t, 0, ex)
	objs := supported(gsdmResults(ex))
	c := t.Metric(1, "the GetSupportedDMResp lists the data model with commands only")
	var cmds int
	for p, o := range objs {
		cmds += len(o.GetSupportedCommands())
		c.Expect(len(o.GetSupportedParams())+len(o.GetSupportedEvents()) == 0, "%s has parameters or events", p)
	}
	c.Expect(cmds > 0, "no commands")
	c.End()
	c = t.Metric(2, "each command has command_name, command_type and argument name lists")
	checkCommands(c, objs)
	c.End()
	c = t.Metric(3, "command_type says synchronous or asynchronous")
	for p, o := range objs {
		for _, cmd := range o.GetSupportedCommands() {
			c.Expect(cmd.GetCommandType() != uspmsg.GetSupportedDMResp_CMD_UNKNOWN, "%s%s: command_type unknown", p, cmd.GetCommandName())
		}
	}
	c.End()
	var withArgs bool
	for _, o := range objs {
		for _, cmd := range o.GetSupportedCommands() {
			withArgs = withArgs || (len(cmd.GetInputArgNames()) > 0 && relative(cmd.GetInputArgNames()))
		}
	}
	t.Check(4, "at least one command lists input arguments, as relative paths", withArgs, "no command with input arguments")
}

func run1_98(t *T) {
	ex := t.Send(msg.GetSupportedDM{Paths: []string{"Device."}, ReturnEvents: true})
	Expect[*msg.GetSupportedDMResp](t, 0, ex)
	objs := supported(gsdmResults(ex))
	c := t.Metric(1, "the GetSupportedDMResp lists the data model with events only")
	var evs int
	for p, o := range objs {
		evs += len(o.GetSupportedEvents())
		c.Expect(len(o.GetSupportedParams())+len(o.GetSupportedCommands()) == 0, "%s has parameters or commands", p)
	}
	c.Expect(evs > 0, "no events")
	c.End()
	c = t.Metric(2, "each event has event_name and arg_names")
	checkEvents(c, objs)
	c.End()
	var withArgs bool
	for _, o := range objs {
		for _, ev := range o.GetSupportedEvents() {
			withArgs = withArgs || (len(ev.GetArgNames()) > 0 && relative(ev.GetArgNames()))
		}
	}
	t.Check(3, "at least one event lists arguments, as relative paths", withArgs, "no event with arguments")
}

func run1_99(t *T) {
	// The plan writes the path without the trailing dot TR-369 requires of
	// an object path (without it the path names a parameter); the kit
	// sends the object path.
	t.Notef("sent Device.LocalAgent.Subscription. where the plan writes Device.LocalAgent.Subscription")
	ex := t.Send(msg.GetSupportedDM{Paths: []string{subObj}, ReturnUniqueKeySets: true})
	Expect[*msg.GetSupportedDMResp](t, 0, ex)
	res := gsdmResults(ex)
	objs := supported(res)
	c := t.Metric(1, "the GetSupportedDMResp has one req_obj_results listing unique key sets only")
	if c.Expect(len(res) == 1, "%d req_obj_results", len(res)) {
		c.Expect(res[0].GetErrCode() == 0, "error %d %s", res[0].GetErrCode(), res[0].GetErrMsg())
	}
	for p, o := range objs {
		c.Expect(len(o.GetSupportedParams())+len(o.GetSupportedCommands())+len(o.GetSupportedEvents()) == 0, "%s has parameters, commands or events", p)
	}
	c.End()
	c = t.Metric(2, "the Subscription table's unique key sets are {Alias} and {Recipient, ID}")
	o := objs[subTable]
	if c.Expect(o != nil, "%s missing", subTable) {
		var sets []string
		for _, ks := range o.GetUniqueKeySets() {
			names := slices.Clone(ks.GetKeyNames())
			slices.Sort(names)
			sets = append(sets, strings.Join(names, "+"))
		}
		slices.Sort(sets)
		c.Expect(slices.Equal(sets, []string{"Alias", "ID+Recipient"}), "unique key sets %v", sets)
	}
	c.End()
}

// gsdmElement runs 1.105-1.107: GetSupportedDM on one command, event or
// parameter lists only that element.
func gsdmElement(kind string) func(*T) {
	return func(t *T) {
		var path string
		switch kind {
		case "command":
			path = "Device.Reboot()"
			if _, ok := t.env.Command(path); !ok {
				path = firstElement(t, func(o msg.SupportedObject) []string {
					var out []string
					for _, c := range o.Commands {
						out = append(out, c.Name)
					}
					return out
				})
			}
		case "event":
			path = "Device.Boot!"
			if !t.env.HasEvent(path) {
				path = firstElement(t, func(o msg.SupportedObject) []string {
					var out []string
					for _, e := range o.Events {
						out = append(out, e.Name)
					}
					return out
				})
			}
		default:
			path = agentEID
		}
		req := allOptions
		req.Paths = []string{path}
		ex := t.Send(req)
		Expect[*msg.GetSupportedDMResp](t, 0, ex)
		res := gsdmResults(ex)
		obj, name := splitLeaf(path)
		c := t.Metric(1, "the GetSupportedDMResp has one req_obj_results listing only "+path)
		if c.Expect(len(res) == 1, "%d req_obj_results", len(res)) &&
			c.Expect(res[0].GetErrCode() == 0, "error %d %s", res[0].GetErrCode(), res[0].GetErrMsg()) {
			objs := res[0].GetSupportedObjs()
			if c.Expect(len(objs) == 1, "%d supported objects", len(objs)) {
				o := objs[0]
				c.Expect(o.GetSupportedObjPath() == obj, "supported_obj_path %q, want %q", o.GetSupportedObjPath(), obj)
				c.Expect(len(o.GetUniqueKeySets()) == 0, "unique_key_sets not empty")
				cmds, evs, ps := o.GetSupportedCommands(), o.GetSupportedEvents(), o.GetSupportedParams()
				switch kind {
				case "command":
					c.Expect(len(cmds) == 1 && cmds[0].GetCommandName() == name && len(evs)+len(ps) == 0, "commands %d, events %d, params %d", len(cmds), len(evs), len(ps))
				case "event":
					c.Expect(len(evs) == 1 && evs[0].GetEventName() == name && len(cmds)+len(ps) == 0, "commands %d, events %d, params %d", len(cmds), len(evs), len(ps))
				default:
					c.Expect(len(ps) == 1 && ps[0].GetParamName() == name && len(cmds)+len(evs) == 0, "commands %d, events %d, params %d", len(cmds), len(evs), len(ps))
				}
			}
		}
		c.End()
	}
}

// firstElement returns the first command or event of the data model (in
// path order) in a single-instance object, noting the substitution.
func firstElement(t *T, names func(msg.SupportedObject) []string) string {
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range t.env.Objects {
			if !yield(p) {
				return
			}
		}
	})
	for _, p := range paths {
		if strings.Contains(p, "{i}") {
			continue
		}
		if ns := names(t.env.Objects[p]); len(ns) > 0 {
			t.Notef("element used instead of the plan's: %s%s", p, ns[0])
			return p + ns[0]
		}
	}
	t.Skipf("no such element outside a multi-instance object")
	return ""
}

// scan_rules.cc: the texts of `tpkg scan`'s finding rules (safety/scan_rules.h).
#include "safety/scan_rules.h"

namespace tpkg::safety {
namespace {

// clang-format off
constexpr RuleText kRules[] = {
    {"pickle.global-not-allowed",
     "A pickle loads a global that the policy of its file kind does not allow",
     "Loading the pickle imports this global (GLOBAL, INST or STACK_GLOBAL) and may call it. "
     "The policy allows what torch's own writers emit for the file kind (default_policy.json); "
     "anything else is a finding, malicious when the global can run code or reach the system "
     "(os, subprocess, builtins.eval, ...). Do not load the file; if the global is expected, "
     "review it and allow it with --policy (tpkg scan --print-policy prints what a file needs)."},
    {"pickle.computed-global",
     "STACK_GLOBAL names a global computed while the pickle loads",
     "The module or name of STACK_GLOBAL is the result of a call or another object built while "
     "loading: which global is loaded is only known to the running program. No writer of "
     "model files does this."},
    {"pickle.extension-code",
     "EXT1/EXT2/EXT4 loads a global named by copyreg's extension registry",
     "The pickle names an extension code, not a global: the loading program's copyreg registry "
     "decides what it loads. torch never writes extension codes."},
    {"pickle.frame-anomaly",
     "FRAME boundaries that CPython's two unpicklers read differently",
     "An opcode crosses the end of its FRAME, or a FRAME starts inside another. The C unpickler "
     "accepts it, pickle._Unpickler (torch.package's unpickler) refuses it: scanners built on "
     "either may see a different pickle than the loader."},
    {"pickle.mangled-name",
     "A global uses torch.package's mangled module name",
     "'<torch_package_N>.module' is how torch.package names modules of a loaded package; the "
     "importer demangles it on load. torch's exporter never writes it into a pickle."},
    {"pickle.several-pickles",
     "More than one pickle in one stream",
     "A loader that calls load() again runs the next pickle; every pickle of the stream is "
     "checked."},
    {"pickle.trailing-data",
     "Bytes after a pickle's STOP",
     "torch does not read them; a pickle hiding there is checked as well."},
    {"pickle.unreadable",
     "A pickle inside a resource or operand breaks before its end",
     "What comes before the break has run when a loader fails on it, so its findings are "
     "reported; the rest could not be read."},
    {"package.module-not-provided",
     "A pickle global's module is neither interned nor extern in the package",
     "torch.package's importer refuses a module that is not interned (a source in the package) "
     "nor listed in .data/extern_modules: loading fails, or the file expects an environment that "
     "provides it."},
    {"package.shadowing-module",
     "The package interns a module named like a standard module that reaches the system",
     "Globals and imports of that name load the package's own code instead (for example an "
     "interned 'os' whose 'system' is anything the package wants)."},
    {"package.dangerous-extern",
     "The package lets its code import a module that reaches the system",
     ".data/extern_modules names a module (subprocess, ctypes, socket, ...) that the package's "
     "code may import from the loading environment."},
    {"source.dangerous-call",
     "An interned source calls something that runs commands or code",
     "Calls such as os.system, subprocess.*, eval, exec or importlib.import_module (aliases "
     "resolved). At module level they run when the package imports the module: malicious; "
     "inside a function: suspicious."},
    {"source.dangerous-import",
     "An interned source imports a module that reaches the system",
     "The module is imported when the package loads the source (or when the function runs)."},
    {"source.introspection",
     "An interned source reaches code by computed names",
     "__builtins__, __import__, __globals__, __subclasses__, __code__ or __loader__ reach any "
     "function or module without naming it in a call the scanner can see."},
    {"source.syntax-error",
     "An interned source is not valid Python",
     "The importer would refuse it, so none of it runs; the file is damaged or not meant for "
     "this Python."},
    {"zip.container",
     "Readers of the archive may see different content",
     "Duplicate names, names differing only in case, a local header that disagrees with the "
     "central directory, data outside any record, overlapping records or records outside the "
     "prefix folder: torch and other tools may load different bytes. Every copy is scanned."},
    {"zip.data-before-archive",
     "The file is a pickle and a ZIP archive at once",
     "torch.load unpickles a file that does not start with a ZIP header; ZIP tools read it from "
     "its end and see an archive. Both readings are scanned."},
    {"zip.nested-archive",
     "An archive inside the file",
     "A record or operand is itself a ZIP archive; it is scanned as well."},
};
// clang-format on

}  // namespace

RuleText DescribeRule(std::string_view id) {
  for (const RuleText& rule : kRules)
    if (rule.id == id) return rule;
  return {id, "tpkg scan finding", "See the finding's message."};
}

}  // namespace tpkg::safety

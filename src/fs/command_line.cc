#include "command_line.h"

#include <boost/program_options.hpp>
#include <charconv>
#include <sstream>
#include <string>

#include "tpkg/error.h"

namespace tpkg::fs {
namespace po = boost::program_options;
namespace {

po::options_description VisibleOptions() {
  po::options_description desc("Options");
  // One option per line reads as the table it is.
  // clang-format off
  desc.add_options()
      ("help,h", "print this help and exit")
      ("version,V", "print the version and exit")
      ("unmount,u", "unmount MOUNTPOINT, wait for the save, print its outcome")
      ("foreground,f", "stay in the foreground (log to stderr)")
      ("debug,d", "log every request in detail (implies -f)")
      ("single,s", "handle requests on one thread")
      ("options,o", po::value<std::vector<std::string>>()->composing(),
       "comma-separated mount options, see below");
  // clang-format on
  return desc;
}

po::variables_map ParseWithBoost(std::span<const char* const> args) {
  po::options_description hidden;
  // clang-format off
  hidden.add_options()
      ("archive", po::value<std::string>())
      ("mountpoint", po::value<std::string>())
      ("extra", po::value<std::vector<std::string>>());
  // clang-format on
  po::options_description all;
  all.add(VisibleOptions()).add(hidden);
  po::positional_options_description positional;
  positional.add("archive", 1).add("mountpoint", 1).add("extra", -1);
  po::variables_map vm;
  po::store(po::command_line_parser(static_cast<int>(args.size()), args.data())
                .options(all)
                .positional(positional)
                .run(),
            vm);
  po::notify(vm);
  return vm;
}

// Whole seconds, 0 to 86400 (a day: a longer wait is a mistake, not a plan).
std::chrono::milliseconds ParseCloseWait(const std::string& value) {
  unsigned seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || seconds > 86400)
    throw Error(Errc::kInvalidArgument,
                "bad -o close_wait='" + value + "': give whole seconds from 0 to 86400");
  return std::chrono::seconds(seconds);
}

// Takes our own -o options out of `o`; returns the ones libfuse must see.
std::vector<std::string> ConsumeOwnOptions(const std::vector<std::string>& lists, Options* o) {
  std::vector<std::string> rest;
  for (const std::string& list : lists) {
    for (std::string& opt : SplitOptionList(list)) {
      if (opt == "strict") {
        o->strict = true;
      } else if (opt == "nostrict") {
        o->strict = false;
      } else if (opt == "debug") {
        o->debug = true;
      } else if (opt == "ro") {
        o->read_only = true;
      } else if (opt == "rw") {
        // The default; kept out of libfuse's list so that a later "ro" wins.
        o->read_only = false;
      } else if (opt.starts_with("close_wait=")) {
        o->close_wait = ParseCloseWait(opt.substr(11));
      } else {
        rest.push_back(std::move(opt));
      }
    }
  }
  return rest;
}

// `tpkgfs -u MOUNTPOINT`: the one positional argument lands in "archive".
CommandLine ParseUnmount(const po::variables_map& vm) {
  constexpr const char* kUsage = " (usage: tpkgfs -u MOUNTPOINT)";
  for (const char* other : {"foreground", "debug", "single", "options"}) {
    if (vm.count(other))
      throw Error(Errc::kInvalidArgument, std::string("-u takes no other option") + kUsage);
  }
  if (vm.count("mountpoint")) {
    throw Error(Errc::kInvalidArgument,
                "unexpected argument '" + vm["mountpoint"].as<std::string>() + "'" + kUsage);
  }
  if (!vm.count("archive"))
    throw Error(Errc::kInvalidArgument, std::string("missing MOUNTPOINT") + kUsage);
  CommandLine cl;
  cl.action = Action::kUnmount;
  cl.options.mountpoint = vm["archive"].as<std::string>();
  return cl;
}

}  // namespace

std::vector<std::string> SplitOptionList(std::string_view list) {
  std::vector<std::string> out;
  std::string current;
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i] == '\\' && i + 1 < list.size()) {
      current += list[++i];
    } else if (list[i] == ',') {
      if (!current.empty()) out.push_back(std::move(current));
      current.clear();
    } else {
      current += list[i];
    }
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

CommandLine ParseCommandLine(std::span<const char* const> args) {
  po::variables_map vm;
  try {
    vm = ParseWithBoost(args);
  } catch (const po::error& e) {
    throw Error(Errc::kInvalidArgument, std::string(e.what()) + " (see --help)");
  }
  CommandLine cl;
  if (vm.count("help")) return {Action::kHelp, {}};
  if (vm.count("version")) {
    // An operand after -V is a mistake (a mount meant, or a typo): refused as
    // anywhere else on the command line, not dropped unread.
    for (const char* operand : {"archive", "mountpoint"}) {
      if (vm.count(operand))
        throw Error(Errc::kInvalidArgument, "unexpected argument '" +
                                                vm[operand].as<std::string>() +
                                                "' (usage: tpkgfs --version)");
    }
    return {Action::kVersion, {}};
  }
  if (vm.count("unmount")) return ParseUnmount(vm);
  if (vm.count("extra")) {
    throw Error(Errc::kInvalidArgument, "unexpected argument '" +
                                            vm["extra"].as<std::vector<std::string>>()[0] +
                                            "' (usage: tpkgfs [options] ARCHIVE MOUNTPOINT)");
  }
  if (!vm.count("archive") || !vm.count("mountpoint")) {
    throw Error(Errc::kInvalidArgument,
                "missing ARCHIVE or MOUNTPOINT (usage: tpkgfs [options] ARCHIVE MOUNTPOINT)");
  }
  Options& o = cl.options;
  o.archive = vm["archive"].as<std::string>();
  o.mountpoint = vm["mountpoint"].as<std::string>();
  o.foreground = vm.count("foreground") > 0;
  o.debug = vm.count("debug") > 0;
  o.single_threaded = vm.count("single") > 0;
  if (vm.count("options")) {
    o.fuse_options = ConsumeOwnOptions(vm["options"].as<std::vector<std::string>>(), &o);
  }
  if (o.debug) o.foreground = true;
  return cl;
}

std::string UsageText(std::string_view program) {
  std::ostringstream out;
  out << "usage: " << program << " [options] ARCHIVE MOUNTPOINT\n"
      << "       " << program << " -u MOUNTPOINT\n\n"
      << "Mount a torch.package archive (or another ZIP whose records sit in one top\n"
      << "folder, as torch writes them) as a read/write directory.\n"
      << "Edits are kept in .ARCHIVE.tpkgfs/ beside the archive and saved into it\n"
      << "when the file system is unmounted. `" << program << " -u MOUNTPOINT` unmounts,\n"
      << "waits for the save and prints its outcome (exit 1 if it failed). Every\n"
      << "save's outcome is also logged in .ARCHIVE.tpkgfs.log beside the archive.\n\n"
      << VisibleOptions() << "\n"
      << "Mount options (-o):\n"
      << "  strict               refuse archives that torch's reader could read\n"
      << "                       differently (default)\n"
      << "  nostrict             mount anything the ZIP reader can read at all\n"
      << "  ro                   read-only view: no journal, nothing saved\n"
      << "  close_wait=SECONDS   after SIGINT, SIGTERM or SIGHUP, wait up to SECONDS\n"
      << "                       (default 30) for the files open for writing in a\n"
      << "                       read/write mount to be closed, then save (the mount\n"
      << "                       is detached meanwhile; 0: save at once)\n"
      << "  rw                   read/write (default; read-only with a warning when\n"
      << "                       the archive or its folder cannot be written, or\n"
      << "                       it or its journal lies inside the mountpoint)\n"
      << "  allow_other          let other users in, as far as the files' owners\n"
      << "                       and modes allow (needs user_allow_other in\n"
      << "                       /etc/fuse.conf unless root)\n"
      << "  default_permissions  always on: the kernel checks every access against\n"
      << "                       the files' owners and modes\n"
      << "  fsname=NAME, subtype=NAME and the other libfuse mount options\n"
      << "                       (nosuid, nodev, noexec, noatime, ...) pass through\n";
  return out.str();
}

}  // namespace tpkg::fs

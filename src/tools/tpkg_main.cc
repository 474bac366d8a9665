// tpkg: scriptable inspection of torch.package archives (see cli.cc).
#include "cli.h"

int main(int argc, char** argv) { return tpkg::cli::Main(argc, argv); }

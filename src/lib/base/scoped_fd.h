// scoped_fd.h (private): ScopedFd is public (tpkg/scoped_fd.h) because the
// Journal hands descriptors to the daemon; this header keeps the private
// include path working.
#pragma once

#include "tpkg/scoped_fd.h"

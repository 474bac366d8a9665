// placeholder until the CLI lands
#include <iostream>
int main() { std::cerr << "tpkg: not built yet\n"; return 2; }

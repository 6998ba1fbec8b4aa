// Quoting what the user gave in an error message: at most 80 characters of it, and how long it
// was (a 50 MB string in a config file must not become a 50 MB error line).
#pragma once

#include <string>
#include <string_view>

namespace gradflow::detail {

inline std::string quote(std::string_view s, std::size_t max = 80) {
  if (s.size() <= max) return std::string(s);
  // Cut on a UTF-8 character boundary.
  std::size_t cut = max - 1;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut)) + "… (" + std::to_string(s.size()) + " characters)";
}

}  // namespace gradflow::detail

// Quoting what the user gave in an error message: at most 80 characters of it, and how long it
// was (a 50 MB string in a config file must not become a 50 MB error line); and text from a file
// made printable.
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

// Text from a file (a name, an op type, a label) made safe for a terminal: every control
// character — an escape sequence could set the window's title or clear the screen — as \xHH.
inline std::string printable(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      out += c;
      continue;
    }
    out += "\\x";
    out += kHex[u >> 4];
    out += kHex[u & 15];
  }
  return out;
}

}  // namespace gradflow::detail

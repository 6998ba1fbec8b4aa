// Internal: refuse deeply nested JSON before parsing it; every JSON gradflow reads goes through
// parse_json.
//
// nlohmann::json parses iteratively, but copying, comparing and dump()-ing a value recurse once
// per level: 100k nested '[' in a model file or a --config file overflowed the stack. Files
// gradflow reads never nest more than a few levels, so anything past kMaxJsonDepth is refused,
// naming where.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gradflow::detail {

inline constexpr std::size_t kMaxJsonDepth = 64;

// Throws std::runtime_error("<what>: JSON nested deeper than 64 levels at byte N") when
// brackets outside strings nest deeper than max_depth. Says nothing about validity otherwise.
inline void check_json_depth(std::string_view text, const std::string& what,
                             std::size_t max_depth = kMaxJsonDepth) {
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        throw std::runtime_error(what + ": JSON nested deeper than " + std::to_string(max_depth) +
                                 " levels at byte " + std::to_string(i));
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

// Json::parse(text) once the depth is known to be sane (Json: nlohmann::json or ordered_json;
// a template so that this header needs no JSON library).
template <class Json>
Json parse_json(std::string_view text, const std::string& what) {
  check_json_depth(text, what);
  return Json::parse(text);
}

}  // namespace gradflow::detail

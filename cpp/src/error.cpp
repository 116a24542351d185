#include "neurorave/error.hpp"

#include <cstdint>

namespace neurorave {

namespace {

// Length of the valid UTF-8 sequence at text[at] (a printable character), or 0.
size_t utf8_length(const std::string& text, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  if (lead >= 0x20 && lead < 0x7f) return 1;
  size_t length = 0;
  uint32_t code = 0;
  if (lead >= 0xc2 && lead <= 0xdf)
    length = 2, code = lead & 0x1f;
  else if (lead >= 0xe0 && lead <= 0xef)
    length = 3, code = lead & 0x0f;
  else if (lead >= 0xf0 && lead <= 0xf4)
    length = 4, code = lead & 0x07;
  else
    return 0;
  if (at + length > text.size()) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(at + i) & 0x3f);
  }
  const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  const bool surrogate = code >= 0xd800 && code <= 0xdfff;
  const bool control = code >= 0x80 && code < 0xa0;
  if (code < smallest[length] || code > 0x10ffff || surrogate || control) return 0;
  return length;
}

}  // namespace

std::string printable(const std::string& text, size_t max_bytes, bool keep_end) {
  static const char* const kHex = "0123456789abcdef";
  std::string out;
  for (size_t at = 0; at < text.size();) {
    const size_t length = utf8_length(text, at);
    if (!keep_end && out.size() + (length ? length : 4) > max_bytes) return out + "...";
    if (length) {
      out.append(text, at, length);
      at += length;
    } else {
      const auto byte = static_cast<unsigned char>(text[at++]);
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  if (out.size() <= max_bytes) return out;
  size_t cut = out.size() - max_bytes;
  while ((static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) ++cut;  // inside a character
  return "..." + out.substr(cut);
}

}  // namespace neurorave

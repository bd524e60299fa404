// Reload: a broken file (TOML syntax, mustache syntax, unknown variable, bad
// key) makes the whole load fail with file:line: reason, and the caller's
// current set stays as it was.
#define BOOST_TEST_MODULE synthesis_template_reload
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "actors/synthesis/synthesis.hpp"
#include "tests/synthesis/fake_embed.hpp"
#include "tests/synthesis/test_util.hpp"

namespace syn = aikid::synthesis;
namespace fs = std::filesystem;

namespace {

struct dir_fixture {
  fs::path dir;
  dir_fixture() {
    dir = fs::temp_directory_path() / ("syn_reload_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (auto& e : fs::directory_iterator(std::string(AIKID_SOURCE_DIR) + "/config/templates"))
      fs::copy_file(e.path(), dir / e.path().filename());
  }
  ~dir_fixture() { fs::remove_all(dir); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  }
};

const std::string kHead = "name = \"bad\"\nintent = \"x\"\nmode = \"answer\"\nexamples = [\"a b c\"]\n";

}  // namespace

BOOST_FIXTURE_TEST_SUITE(reload, dir_fixture)

BOOST_AUTO_TEST_CASE(broken_file_keeps_the_old_set) {
  auto first = syn::templates_load_dir(dir, fake::embed);
  BOOST_REQUIRE(first.has_value());
  syn::template_set_ptr live = *first;  // what the actor serves
  const auto* before = live.get();
  BOOST_REQUIRE_EQUAL(syn::templates_count(*live), 12u);

  // Each kind of breakage: (file text, expected "file:line: …" fragment)
  const std::vector<std::pair<std::string, std::string>> cases = {
      {kHead + "body = \"\"\"\nline one\n{{#facts}}unclosed\n\"\"\"\n",
       "zz_bad.toml:7: body: mustache: section {{#facts}} is never closed"},
      {kHead + "body = \"\"\"\nHello {{nmae}}\n\"\"\"\n",
       "zz_bad.toml:6: body: mustache: unknown variable 'nmae'"},
      {kHead + "body = \"\"\"\nok\nok\n{{#memories}}{{text}}{{/facts}}\n\"\"\"\n",
       "zz_bad.toml:8: body: mustache: closing {{/facts}} does not match {{#memories}} opened on line 8"},
      {kHead + "body = \"{{> partial}}\"\n", "zz_bad.toml:5: body: mustache: partials"},
      {kHead + "body = \"{{#entity}}{{score}}{{/entity}}\"\n", "zz_bad.toml:5: body: mustache: unknown variable 'score'"},
      {kHead + "body = \"{{text\"\n", "zz_bad.toml:5: body: mustache: tag '{{text' is never closed"},
      {kHead + "body = \"unterminated\n", "zz_bad.toml:5: TOML:"},
      {kHead + "body = \"x\"\ncolour = \"red\"\n", "zz_bad.toml:6: unknown key 'colour'"},
      {"name = \"bad\"\nintent = \"x\"\nmode = \"chat\"\nexamples = [\"a\"]\nbody = \"x\"\n",
       "zz_bad.toml:3: mode: 'chat' is not \"answer\" or \"prompt\""},
      {"name = \"bad\"\nintent = \"x\"\nmode = \"answer\"\nbody = \"x\"\n", "zz_bad.toml:1: needs examples or keywords"},
      {"name = \"bad\"\nintent = \"x\"\nmode = \"answer\"\nexamples = [\"a\", 3]\nbody = \"x\"\n",
       "zz_bad.toml:4: examples[1]: expected a string"},
      {"name = \"greeting.en\"\nintent = \"x\"\nmode = \"answer\"\nexamples = [\"a\"]\nbody = \"x\"\n",
       "zz_bad.toml:1: name 'greeting.en' is also used by"},
      {"name = \"bad\"\nintent = \"x\"\nmode = \"prompt\"\nexamples = [\"a\"]\nsystem = \"s\"\nbody = \"x\"\n",
       "zz_bad.toml:6: body: not used in mode \"prompt\""},
  };
  for (const auto& [text, want] : cases) {
    write("zz_bad.toml", text);
    auto r = syn::templates_load_dir(dir, fake::embed);
    BOOST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().code == aikid::errc::bad_request);
    BOOST_TEST(r.error().message.find(want) != std::string::npos,
               "got: " << r.error().message << "\nwant: " << want);
    // The caller only swaps on success: the live set is untouched.
    BOOST_TEST(live.get() == before);
    BOOST_TEST(syn::templates_count(*live) == 12u);
    BOOST_TEST(syn::templates_find(*live, "bad") == -1);
  }
  // A good file reloads, and the new set has 13 templates.
  write("zz_bad.toml", kHead + "body = \"fine {{text}}\"\n");
  auto ok = syn::templates_load_dir(dir, fake::embed);
  BOOST_REQUIRE_MESSAGE(ok.has_value(), (ok ? std::string() : ok.error().message));
  BOOST_TEST(syn::templates_count(**ok) == 13u);
  live = *ok;
  BOOST_TEST(syn::templates_find(*live, "bad") >= 0);
}

BOOST_AUTO_TEST_CASE(embedder_failure_and_missing_dir) {
  syn::embed_fn failing = [](const std::vector<std::string>&) -> aikid::expected<std::vector<std::vector<float>>> {
    return aikid::error{aikid::errc::unavailable, "embedder down"};
  };
  auto r = syn::templates_load_dir(dir, failing);
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code == aikid::errc::unavailable);
  BOOST_TEST(r.error().message.find("embedder down") != std::string::npos);
  syn::embed_fn ragged = [](const std::vector<std::string>& t) -> aikid::expected<std::vector<std::vector<float>>> {
    std::vector<std::vector<float>> v;
    for (std::size_t i = 0; i < t.size(); ++i) v.push_back(std::vector<float>(i == 3 ? 4 : 8, 1.f));
    return v;
  };
  auto g = syn::templates_load_dir(dir, ragged);
  BOOST_REQUIRE(!g.has_value());
  BOOST_TEST(g.error().message.find("dimension 4, expected 8") != std::string::npos);
  auto m = syn::templates_load_dir(dir / "nope", fake::embed);
  BOOST_REQUIRE(!m.has_value());
  BOOST_TEST(m.error().code == aikid::errc::unavailable);
}

BOOST_AUTO_TEST_SUITE_END()

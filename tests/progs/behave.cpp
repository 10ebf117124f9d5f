// A C++ workload whose output must be the same with and without memwatch:
// maps, strings, vectors; prints a checksum.
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

int main()
{
    std::map<std::string, std::vector<int>> m;
    unsigned long sum = 0;
    for (int i = 0; i < 200000; i++) {
        std::string key = "key" + std::to_string(i % 5000);
        auto &v = m[key];
        v.push_back(i);
        if (v.size() > 20)
            v.erase(v.begin());
    }
    for (auto &kv : m)
        for (int x : kv.second)
            sum = sum * 31 + (unsigned)x + kv.first.size();
    std::vector<std::unique_ptr<std::string>> strs;
    for (int i = 0; i < 10000; i++)
        strs.push_back(std::make_unique<std::string>(100, 'a' + i % 26));
    for (auto &s : strs)
        sum += s->size();
    std::printf("checksum %lu over %zu keys\n", sum, m.size());
    return 0;
}

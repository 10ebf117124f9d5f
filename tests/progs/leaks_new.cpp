// C++ leak sites for the exact-numbers test: new[] and new must report the
// line of the new-expression, not operator new.
struct Point {
    double x, y, z;
};

static Point *kept[64];
static int nkept;

extern "C" void cpp_leaks(void)
{
    for (int i = 0; i < 6; i++)
        kept[nkept++] = new Point[10]; // LEAK:new_array
    for (int i = 0; i < 4; i++)
        kept[nkept++] = new Point(); // LEAK:new_one
}

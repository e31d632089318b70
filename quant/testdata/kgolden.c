// kgolden TYPE < blocks > floats: dequantizes ggml blocks of type TYPE
// (ggml_type number) with llama.cpp's own to_float.
#include <stdio.h>
#include <stdlib.h>
#include "ggml.h"
int main(int argc, char **argv) {
    struct ggml_init_params ip = {1 << 20, NULL, false};
    ggml_free(ggml_init(ip)); // fills the fp16 table GGML_FP16_TO_FP32 reads
    enum ggml_type t = (enum ggml_type)atoi(argv[1]);
    const struct ggml_type_traits *tr = ggml_get_type_traits(t);
    static unsigned char buf[1 << 24];
    size_t n = fread(buf, 1, sizeof buf, stdin);
    size_t nb = n / tr->type_size;
    float *y = malloc(nb * tr->blck_size * sizeof(float));
    tr->to_float(buf, y, nb * tr->blck_size);
    fwrite(y, sizeof(float), nb * tr->blck_size, stdout);
    return 0;
}

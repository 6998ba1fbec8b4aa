// Renamed: the model file format is declared in gradflow/model_file.h (this header stays for
// code that includes the old name).
#pragma once

#include "gradflow/model_file.h"

/* core/hash.h moved to base/hash.h (the bottom layer); this forwarding header goes once
 * every include names the new place. */
#include "base/hash.h"

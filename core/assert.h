/* core/assert.h moved to base/assert.h (the bottom layer); this forwarding header goes once
 * every include names the new place. */
#include "base/assert.h"

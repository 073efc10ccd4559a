// Errors about options say what to change in the caller's own words: the API names options as
// its callers write them (imageSize), the command line by its flags (--image-size). Such an error
// keeps how it is told, and each caller tells it with its own names; nothing rewrites a message.

/** What a caller calls an option, given the option's name or a path into it (content.width). */
export type OptionNames = (option: string) => string;

/** The API's names: the options' own. */
export const apiNames: OptionNames = (option) => option;

export class OptionError extends Error {
  /**
   * `code` says what went wrong, for callers to branch on; `tell` writes the message with the
   * names it is given. `name` follows JavaScript's: TypeError for a value of the wrong kind,
   * RangeError for one out of range.
   */
  constructor(
    readonly code: string,
    private readonly tell: (names: OptionNames) => string,
    name: 'Error' | 'TypeError' | 'RangeError' = 'Error',
  ) {
    super(tell(apiNames));
    this.name = name;
  }

  /** The message with options called by `names`. */
  toldWith(names: OptionNames): string {
    return this.tell(names);
  }
}
